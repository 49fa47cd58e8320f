"""The eight settings both doors share, in one place: names, defaults, help texts, environment.

`APIRunner` takes a `DoorSettings`; so do the standalone door (`create_app`, `serve`, and
``fink-cutouts serve``, whose options are made from these fields) and the Jupyter door
(`FinkCutoutsApp`, whose traits keep these names: they are the users' configuration). Settings
are checked when made, so that a bad value stops a server at start with its name, not at the
first request.

Standard library only: the doors import it at start-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from fink_cutout_jupyter.errors import BadParameter, quote
from fink_cutout_jupyter.surveys import survey_named

LAKE_ENVIRONMENT = "FINK_CUTOUTS_LAKE"  # environment_variable("lake")


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class DoorSettings:
    """What a door serves and how: the lake, its index and survey, threads and timeouts.

    Each field's help text (``DoorSettings.help(name)``) is what the Jupyter traits and the
    ``fink-cutouts serve`` options say.
    """

    lake: str = _setting(
        "",
        "Lake root: a directory, hdfs://host:port/path?user=NAME or s3://bucket/prefix URI "
        f"(default: ${LAKE_ENVIRONMENT})",
    )
    index: str = _setting("", "Alert index root (default: _cutout_index inside the lake)")
    survey: str = _setting("", "ztf or lsst (default: recognised from the data)")
    science_dir: str = _setting(
        "science",
        "Directory of the archived nights (year=/month=/day=) under the lake root (Fink: "
        "archive/science)",
    )
    online_dir: str = _setting(
        "online/science",
        "Directory of the live nights (<YYYYMMDD>/, written by Spark's streaming sink) under "
        "the lake root",
    )
    workers: int = _setting(
        4,
        "Threads reading the lake (at most this many reads at once); lookups get two threads, "
        "health probes one",
    )
    timeout: float = _setting(
        60.0, "Seconds a request waits for the lake before answering 503 (the read goes on)"
    )
    render_processes: int | None = _setting(
        None,
        "Processes rendering PNG images (0: in threads of the server's process; default: "
        "$FINK_CUTOUTS_RENDER_PROCESSES or up to 2, one per CPU)",
    )

    def __post_init__(self) -> None:
        for name in ("lake", "index", "survey", "science_dir", "online_dir"):
            if not isinstance(getattr(self, name), str):
                raise BadParameter(f"{name}: {quote(getattr(self, name))}; a string")
        if self.survey:
            survey_named(self.survey)  # names the setting and the surveys allowed
        if not _is_integer(self.workers):
            raise BadParameter(f"workers: {quote(self.workers)}; a whole number of threads")
        if not isinstance(self.timeout, int | float) or isinstance(self.timeout, bool):
            raise BadParameter(f"timeout: {quote(self.timeout)}; a number of seconds above 0")
        if self.render_processes is not None and not _is_integer(self.render_processes):
            raise BadParameter(
                f"render_processes: {quote(self.render_processes)}; a whole number of processes"
            )
        if self.workers < 1:
            raise BadParameter(f"workers: {quote(self.workers)}; at least 1 thread")
        if not self.timeout > 0:
            raise BadParameter(f"timeout: {quote(self.timeout)}; a number of seconds above 0")
        if self.render_processes is not None and self.render_processes < 0:
            raise BadParameter(
                f"render_processes: {quote(self.render_processes)}; 0 (render in threads) or more"
            )

    @classmethod
    def from_environment(
        cls, environment: Mapping[str, str] | None = None, **given: Any
    ) -> DoorSettings:
        """Settings `given`; each other one from ``$FINK_CUTOUTS_<NAME>`` where it is set
        (``FINK_CUTOUTS_LAKE``, ``FINK_CUTOUTS_SCIENCE_DIR``, ``FINK_CUTOUTS_WORKERS``, ...),
        else its default. A `given` value of None counts as not given.

        ``$FINK_CUTOUTS_RENDER_PROCESSES`` is read where render processes start
        (`cutouts.render_processes.default_processes`, which names a bad value in a warning and
        uses the default), when `render_processes` is None.

        Raises
        ------
        BadParameter
            A variable that is not a value of its setting's type, named.
        """
        environment = os.environ if environment is None else environment
        settings = {name: value for name, value in given.items() if value is not None}
        for setting in fields(cls):
            variable = environment_variable(setting.name)
            if setting.name in settings or setting.name == "render_processes":
                continue
            if variable in environment:
                settings[setting.name] = _from_text(variable, environment[variable], setting.type)
        return cls(**settings)

    @staticmethod
    def names() -> tuple[str, ...]:
        """The settings' names, in their order."""
        return tuple(setting.name for setting in fields(DoorSettings))

    @staticmethod
    def help(name: str) -> str:
        """The help text of the setting `name`."""
        return next(s.metadata["help"] for s in fields(DoorSettings) if s.name == name)


def environment_variable(name: str) -> str:
    """The environment variable of the setting `name`: ``FINK_CUTOUTS_<NAME>``."""
    return f"FINK_CUTOUTS_{name.upper()}"


def _from_text(variable: str, text: str, kind: Any) -> Any:
    if str(kind) == "str":
        return text
    try:
        return int(text) if str(kind) == "int" else float(text)
    except ValueError:
        expected = "a whole number" if str(kind) == "int" else "a number"
        raise BadParameter(f"{variable}: {quote(text)}; {expected}") from None


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
