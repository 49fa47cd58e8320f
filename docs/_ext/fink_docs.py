"""What the documentation build takes from the code rather than from hand-written pages.

When the builder starts, it

- copies the notebooks of ``notebooks/`` into ``docs/tutorials/`` (git ignores the copies), where
  myst-nb executes them: the tutorials show the outputs of this build's run;
- writes a demo lake to a temporary directory and points ``FINK_CUTOUTS_LAKE`` at it, as the tests
  do, so that every notebook runs on the same data a new user's ``fink-cutouts demo`` writes;
- writes ``docs/_generated/openapi.json``, the document both doors serve at
  ``/api/v1/openapi.json``, and ``docs/_generated/http.md``, its operations and schemas as
  Markdown tables (``reference/http.md`` includes it; sphinxcontrib-openapi cannot read OpenAPI
  3.1's ``anyOf`` of typeless schemas, which the document uses for ids given as text or numbers);
- writes ``docs/_generated/settings.md``, the settings both doors share (included by
  ``reference/configuration.md``): names, defaults, help texts, from ``DoorSettings`` and the
  Jupyter traits.

Each file is written to a temporary name and renamed, and only when its content changed (so an
unchanged page is not rebuilt).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1]
REPOSITORY = DOCS.parent
NOTEBOOKS = REPOSITORY / "notebooks"
TUTORIALS = DOCS / "tutorials"
GENERATED = DOCS / "_generated"


def write_if_changed(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary name and a rename, unless it holds it already."""
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def copy_notebooks() -> list[str]:
    """The notebooks of notebooks/, copied beside tutorials/index.md; their names."""
    names = []
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        write_if_changed(TUTORIALS / notebook.name, notebook.read_bytes())
        names.append(notebook.name)
    for stale in TUTORIALS.glob("*.ipynb"):
        if stale.name not in names:
            stale.unlink()
    return names


def demo_lake_for_the_notebooks() -> Path:
    """A fresh demo lake in a temporary directory (removed at exit), as ``FINK_CUTOUTS_LAKE``."""
    from fink_cutout_jupyter.demo.make import make_demo_lake
    from fink_cutout_jupyter.doors.settings import LAKE_ENVIRONMENT

    directory = Path(tempfile.mkdtemp(prefix="fink-docs-lake-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    lake = make_demo_lake(directory / "fink-demo-lake").root
    os.environ[LAKE_ENVIRONMENT] = str(lake)
    return lake


def openapi_json() -> bytes:
    """The OpenAPI document a door serves at the root of a server."""
    from fink_cutout_jupyter.contract.openapi import openapi_document

    return json.dumps(openapi_document("/"), indent=2, sort_keys=False).encode() + b"\n"


def _schema_text(schema: dict[str, Any]) -> str:
    """A schema in a few words: its type, its allowed values or its reference."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#schema-{name.lower()})"
    if "enum" in schema:
        values = ", ".join(f"`{value}`" for value in schema["enum"][:12])
        return values + (", ..." if len(schema["enum"]) > 12 else "")
    if "const" in schema:
        return f"`{schema['const']!r}`"
    for combination in ("anyOf", "oneOf"):
        if combination in schema and all(isinstance(s, dict) for s in schema[combination]):
            return " or ".join(dict.fromkeys(_schema_text(s) for s in schema[combination]))
    kind = schema.get("type", "any")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    if kind == "array" and "items" in schema:
        return f"array of {_schema_text(schema['items'])}"
    if "pattern" in schema and kind == "string" and schema["pattern"].startswith("^(0|[1-9]"):
        return "whole number as text"
    bounds = [
        f"{word} {schema[key]}"
        for key, word in (("minimum", "≥"), ("maximum", "≤"), ("maxLength", "length ≤"))
        if key in schema and not (key == "maximum" and schema[key] >= 2**63 - 1)
    ]
    return " ".join([kind, *bounds])


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _properties_table(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", ()))
    rows = ["| Name | Type | Required | Description |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        rows.append(
            f"| `{name}` | {_cell(_schema_text(prop))} | {'yes' if name in required else ''} "
            f"| {_cell(prop.get('description', ''))} |"
        )
    return rows


def http_markdown(document: dict[str, Any]) -> bytes:
    """The OpenAPI document's operations and schemas as Markdown sections and tables."""
    lines: list[str] = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            lines += [f"### `{method.upper()} {path}`", "", _cell(operation.get("summary", "")), ""]
            parameters = operation.get("parameters", [])
            for parameter in parameters:
                schema = parameter.get("schema", {})
                where = f"Query parameters ({_schema_text(schema)})"
                if "$ref" not in schema:
                    where = f"Parameter `{parameter['name']}` in {parameter['in']}: "
                    where += _schema_text(schema)
                lines += [where, ""]
            body = operation.get("requestBody")
            if body:
                for media, content in body["content"].items():
                    lines += [f"Request body (`{media}`): {_schema_text(content['schema'])}", ""]
            lines += ["| Status | Meaning | Content types |", "|---|---|---|"]
            for status, response in operation.get("responses", {}).items():
                types = ", ".join(f"`{media}`" for media in response.get("content", {}))
                lines.append(f"| {status} | {_cell(response.get('description', ''))} | {types} |")
            lines.append("")
    lines += ["## Schemas", ""]
    for name, schema in document["components"]["schemas"].items():
        lines += [f"(schema-{name.lower()})=", f"### {name}", ""]
        if schema.get("description"):
            lines += [_cell(schema["description"]), ""]
        for combination, word in (("oneOf", "exactly one of"), ("anyOf", "at least one of")):
            choices = [sorted(s.get("required", ())) for s in schema.get(combination, [])]
            if choices and all(choices):
                alternatives = "; ".join(", ".join(f"`{c}`" for c in choice) for choice in choices)
                lines += [f"Give {word}: {alternatives}.", ""]
        if schema.get("properties"):
            lines += [*_properties_table(schema), ""]
    return ("\n".join(lines)).encode()


def _subcommand_options(name: str) -> set[str]:
    """The option strings ``fink-cutouts NAME`` accepts, from the command's own parser."""
    import argparse

    from fink_cutout_jupyter.cli import _parser

    commands = next(
        action for action in _parser()._actions if isinstance(action, argparse._SubParsersAction)
    )
    return {
        option for action in commands.choices[name]._actions for option in action.option_strings
    }


def settings_markdown() -> bytes:
    """The settings table: one row per `DoorSettings` field, checked against the Jupyter traits."""
    from fink_cutout_jupyter.doors.jupyter import FinkCutoutsApp
    from fink_cutout_jupyter.doors.settings import DoorSettings, environment_variable

    traits = FinkCutoutsApp.class_own_traits(config=True)
    serve_options = _subcommand_options("serve")
    undocumented = set(traits) - set(DoorSettings.names())
    if undocumented:
        raise RuntimeError(f"FinkCutoutsApp traits outside DoorSettings: {sorted(undocumented)}")
    rows: list[str] = []  # a definition list: the names are too long for a table's columns
    for setting in fields(DoorSettings):
        if setting.name not in traits:
            raise RuntimeError(f"DoorSettings.{setting.name} is not a FinkCutoutsApp trait")
        default = None if setting.default is MISSING else setting.default
        option = "--" + setting.name.replace("_", "-")
        if option not in serve_options:
            raise RuntimeError(f"DoorSettings.{setting.name}: fink-cutouts serve has no {option}")
        help_text = DoorSettings.help(setting.name).replace("<", "\\<")
        rows += [
            f"`{setting.name}`",
            f": {help_text}." + ("" if default in ("", None) else f" Default: `{default!r}`."),
            "",
            f"  Jupyter: `c.FinkCutoutsApp.{setting.name}`; `fink-cutouts serve {option}`; "
            f"environment: `{environment_variable(setting.name)}`.",
            "",
        ]
    return ("\n".join(rows) + "\n").encode()


def generate(app: Any) -> None:
    copy_notebooks()
    write_if_changed(GENERATED / "openapi.json", openapi_json())
    write_if_changed(GENERATED / "http.md", http_markdown(json.loads(openapi_json())))
    write_if_changed(GENERATED / "settings.md", settings_markdown())
    if app.config.nb_execution_mode != "off":
        demo_lake_for_the_notebooks()


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
