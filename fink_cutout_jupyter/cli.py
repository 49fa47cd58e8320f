"""The ``fink-cutouts`` command: demo lake, single cutouts from the command line."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from fink_cutout_jupyter.contract.id_files import BY_COLUMN, ID_COLUMNS, read_ids
from fink_cutout_jupyter.errors import BadParameter, CutoutError
from fink_cutout_jupyter.surveys import KINDS, SURVEYS

FLIPBOOK_FORMATS = ("gif", "apng")


def main(argv: list[str] | None = None) -> int:
    """Run ``fink-cutouts``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CutoutError as error:
        print(f"fink-cutouts: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `... | head` stopped reading: no traceback (Python's own advice)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fink-cutouts", description="Fink alert cutouts straight from the data lake."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="write a synthetic lake and open JupyterLab on it")
    demo.add_argument(
        "--survey",
        default="ztf",
        choices=["ztf", "lsst", "rubin"],
        help="the lake's alerts: ZTF's, or Rubin's (lsst) in Fink's Rubin schema (default: "
        "%(default)s)",
    )
    demo.add_argument(
        "--out", help="lake root (default: fink-demo-lake, or fink-rubin-demo-lake for Rubin)"
    )
    demo.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    demo.add_argument("--no-lab", action="store_true", help="only write the lake")
    demo.add_argument("--port", type=int, help="JupyterLab's port (default: its own choice)")
    demo.add_argument("--no-browser", action="store_true", help="do not open a browser")
    demo.add_argument(
        "--live",
        action="store_true",
        help="also stream tonight's live night, indexed by a follower as it is committed "
        "(with --no-lab: until Ctrl-C)",
    )
    demo.add_argument(
        "--batch-seconds",
        type=float,
        default=30.0,
        help="with --live, seconds between micro-batches (default: %(default)s)",
    )
    demo.set_defaults(run=_demo)

    get = commands.add_parser(
        "get",
        help="write the cutouts of one alert, or of every alert of an object (--all)",
        description="Write one alert's cutouts (FITS, array or PNG), or with --all every alert "
        "of the object, oldest first, as a flip-book: an animated GIF or APNG (fixed cuts "
        "across frames, kinds side by side) or a FITS cube (an image per kind, a FRAMES table "
        "of alert ids and times).",
    )
    get.add_argument("object_id", nargs="?", help="object id, e.g. ZTF24abssjsb")
    get.add_argument("--lake", required=True, help="lake root: directory, hdfs:// or s3:// URI")
    get.add_argument("--index", help="index root (default: _cutout_index in the lake)")
    get.add_argument(
        "--path", help="Parquet file, relative to the lake root (default: found by the index)"
    )
    get.add_argument("--candid", help="alert id (ZTF candid, Rubin diaSourceId); default: latest")
    get.add_argument("--kind", default="All", choices=[*KINDS, "All"])
    get.add_argument(
        "--format",
        default="fits",
        choices=["fits", "array", "png", "gif", "apng"],
        help="fits, array, png; with --all: gif, apng or fits (a cube)",
    )
    get.add_argument(
        "--all",
        action="store_true",
        help="every alert of OBJECT_ID, oldest first, as a flip-book (-o FILE; a batch "
        "request per page of alerts)",
    )
    get.add_argument(
        "--fps",
        type=float,
        default=4.0,
        help="--all gif/apng: frames per second, GIF 1/655.35 to 50, APNG 1/65535 to below 100 "
        "(%(default)s)",
    )
    get.add_argument(
        "--interval",
        default="zscale",
        help="--all gif/apng: astropy's interval over all frames of a kind, the cuts of every "
        "frame: zscale, percentile or minmax (%(default)s)",
    )
    get.add_argument(
        "--stretch",
        default="linear",
        help="--all gif/apng: linear, sqrt, log, asinh, power or sigmoid (%(default)s)",
    )
    get.add_argument(
        "--colormap", default="gray", help="--all gif/apng: a matplotlib colormap (%(default)s)"
    )
    get.add_argument(
        "--scale",
        type=int,
        default=1,
        help="--all gif/apng: picture pixels per stamp pixel, each way (%(default)s)",
    )
    get.add_argument("--survey", choices=list(SURVEYS), help="default: from the file's columns")
    get.add_argument("--science-dir", default="science", help="archived nights' directory")
    get.add_argument("--online-dir", default="online/science", help="live nights' directory")
    get.add_argument("-o", "--output", help="file to write (default: standard output)")
    get.set_defaults(run=_get, parser=get)

    history = commands.add_parser(
        "history", help="print an object's light curve: detections, forced photometry, limits"
    )
    history.add_argument(
        "object_id", metavar="OBJECT_ID", help="object id (ZTF objectId, Rubin diaObjectId)"
    )
    history.add_argument("--ss", action="store_true", help="OBJECT_ID is a Rubin ssObjectId")
    where = history.add_mutually_exclusive_group(required=True)
    where.add_argument("--lake", help="read this lake in-process: directory, hdfs:// or s3:// URI")
    where.add_argument(
        "--url", help="ask a server with /api/v1 (token: ?token= or $FINK_CUTOUTS_TOKEN)"
    )
    history.add_argument("--index", help="index root (default: _cutout_index in the lake)")
    history.add_argument("--science-dir", default="science", help="archived nights' directory")
    history.add_argument("--online-dir", default="online/science", help="live nights' directory")
    history.add_argument("--json", action="store_true", help="print the answer as JSON")
    history.set_defaults(run=_history)

    export = commands.add_parser(
        "export",
        help="write many alerts' stamps to one Parquet (or .npy) file, resumable",
        description="Write the stamps of the ids of IDS and their table to --out: Parquet (the "
        "batch table's columns and one fixed-shape tensor column per kind) or .npy (the stamps) "
        "beside a .parquet table. An interrupted export continues when run again the same way.",
    )
    export.add_argument(
        "ids",
        metavar="IDS",
        help="a file of ids: text (.txt or no suffix, one a line), .csv (with a header) or "
        ".parquet; object ids (each object's latest alert) or alert ids",
    )
    where = export.add_mutually_exclusive_group(required=True)
    where.add_argument("--lake", help="read this lake in-process: directory, hdfs:// or s3:// URI")
    where.add_argument(
        "--url", help="ask a server with /api/v1 (token: ?token= or $FINK_CUTOUTS_TOKEN)"
    )
    export.add_argument("--out", required=True, help="the file to write (replaced if there)")
    export.add_argument(
        "--column",
        help=f"the column of ids in a CSV or Parquet IDS (default: the first of "
        f"{', '.join(ID_COLUMNS)} present, or its only column)",
    )
    export.add_argument(
        "--by",
        default="auto",
        choices=["auto", "objectId", "candid", "diaObjectId", "diaSourceId"],
        help="what the ids are (default: from the column's name, else alert ids if all are "
        "whole numbers, else object ids)",
    )
    export.add_argument(
        "--kind",
        action="append",
        choices=list(KINDS),
        help=f"a stamp kind (repeatable; default: {', '.join(KINDS)})",
    )
    export.add_argument("--format", default="parquet", choices=["parquet", "npy"])
    export.add_argument(
        "--batch-size", type=int, default=1000, help="ids per part (default: %(default)s)"
    )
    export.add_argument(
        "--restart", action="store_true", help="drop an unfinished export's parts and start over"
    )
    export.add_argument("--science-dir", default="science", help="archived nights' directory")
    export.add_argument("--online-dir", default="online/science", help="live nights' directory")
    export.add_argument(
        "--spark",
        action="store_true",
        help="export with Spark (with --lake; Parquet: a dataset directory; see "
        "docs/how-to/training-sets.md)",
    )
    export.add_argument(
        "--master",
        help="Spark master: local[*], yarn, spark://… (default: spark-submit's, else local[*])",
    )
    export.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    export.set_defaults(run=_export)

    serve = commands.add_parser("serve", help="serve /api/v1/cutouts over HTTP (aiohttp)")
    _add_door_settings(serve)
    serve.add_argument("--host", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: 8000)")
    serve.add_argument("--base-url", help="path prefix of /api/v1 (default: /)")
    serve.add_argument(
        "--jupyterhub",
        action="store_true",
        help="run as a JupyterHub service: requests need a hub token with access to it "
        "(on by itself when the hub's service environment is set)",
    )
    serve.add_argument(
        "--idle-timeout",
        type=float,
        default=15.0,
        help="seconds a connection may make no progress (idle, or headers unfinished; default: "
        "%(default)s)",
    )
    serve.set_defaults(run=_serve)

    hub = commands.add_parser(
        "jupyterhub-config",
        help="print the tested JupyterHub configuration (see docs/how-to/jupyterhub.md)",
    )
    hub.set_defaults(run=lambda _: _print_bytes(bundled("jupyterhub_config.py", "jupyter-config")))

    index = commands.add_parser(
        "index", help="build, compact, follow or inspect (stats) the alert index"
    )
    actions = index.add_subparsers(required=True, metavar="ACTION")
    build = actions.add_parser("build", help="index nights of the lake (replaces them)")
    build.add_argument("--night", action="append", default=[], help="YYYYMMDD (repeatable)")
    build.add_argument("--all", action="store_true", help="every night of the lake")
    build.add_argument("--workers", type=int, default=4, help="files read in parallel")
    build.add_argument(
        "--rebuild",
        action="store_true",
        help="write a whole new index, then delete the old one (after an upgrade or damage)",
    )
    build.set_defaults(run=_index_build)
    compact = actions.add_parser("compact", help="merge nightly deltas into the base")
    compact.set_defaults(run=_index_compact)
    stats = actions.add_parser("stats", help="print counts and layout")
    stats.add_argument(
        "--verify",
        action="store_true",
        help="also read every index file (exit 1 naming each damaged one) and each lake file's "
        "alert ids to find rewrites that kept size and mtime",
    )
    stats.set_defaults(run=_index_stats)
    unlock = actions.add_parser(
        "unlock", help="break the index's writer lock (only when its holder is dead)"
    )
    unlock.add_argument(
        "--force",
        action="store_true",
        help="break it even while its holder runs on this host (its writes are then refused)",
    )
    unlock.set_defaults(run=_index_unlock)
    follow = actions.add_parser(
        "follow", help="index the live nights as Spark commits them, then their archive"
    )
    follow.add_argument("--interval", type=float, default=5.0, help="seconds between polls")
    follow.add_argument("--workers", type=int, default=4, help="files read in parallel")
    follow.add_argument("--once", action="store_true", help="one poll, then exit (cron, tests)")
    follow.add_argument(
        "--settle-cycles",
        type=int,
        help="polls an archived night must be seen unchanged, with no Spark job writing the "
        "archive (_temporary), before it replaces its live parts (default: 2; with --once, 1: "
        "a count kept in memory does not outlive one poll)",
    )
    follow.set_defaults(run=_index_follow)
    for action in (build, compact, follow):
        action.add_argument(
            "--wait",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="wait this long for another writer of the index (default: refuse at once)",
        )
    for action in (build, compact):
        action.add_argument(
            "--spark",
            action="store_true",
            help="run on Spark (pip install 'fink-cutout-jupyter[spark]'); with --all, write "
            "a new compacted base",
        )
        action.add_argument(
            "--master",
            help="Spark master: local[*], yarn, spark://… (default: spark-submit's, else local[*])",
        )
    for action in (build, compact, stats, unlock, follow):
        action.add_argument("--lake", required=True, help="lake root: directory or URI")
        action.add_argument("--index", help="index root (default: _cutout_index in the lake)")
        action.add_argument("--science-dir", default="science", help="nights' directory")
        action.add_argument("--online-dir", default="online/science", help="live nights' directory")
        action.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def _add_door_settings(serve: argparse.ArgumentParser) -> None:
    """An option for each of the doors' `DoorSettings`, with its default and help text."""
    from dataclasses import fields

    from fink_cutout_jupyter.doors.settings import DoorSettings, environment_variable

    types = {"str": str, "int": int, "float": float, "int | None": int}
    for setting in fields(DoorSettings):
        note = ""  # the lake's and render processes' help texts name their variable
        if setting.name not in ("lake", "render_processes"):
            default = "" if setting.default == "" else f"; default: {setting.default}"
            note = f" (${environment_variable(setting.name)}{default})"
        serve.add_argument(
            f"--{setting.name.replace('_', '-')}",
            type=types[str(setting.type)],
            help=setting.metadata["help"] + note.replace("%", "%%"),
        )


def _demo(args: argparse.Namespace) -> int:
    from fink_cutout_jupyter.demo.make import make_demo_lake
    from fink_cutout_jupyter.surveys import survey_named

    survey = survey_named(args.survey).name
    if args.live and survey != "ztf":
        raise BadParameter("--live: the demo's live night streams ZTF alerts (no --survey lsst)")
    out = args.out or {"ztf": "fink-demo-lake", "lsst": "fink-rubin-demo-lake"}[survey]
    lake = make_demo_lake(out, seed=args.seed, survey=survey)
    root = lake.root.resolve()
    example = lake.demo_object_files[-1]
    object_id = lake.demo_object_id
    asteroids = ", ".join(map(str, lake.ss_object_ids))
    print(
        f"Demo lake: {root}\n"
        f"  {lake.alerts} {survey.upper()} alerts of {lake.objects} objects over "
        f"{len(lake.nights)} nights ({lake.nights[0]:%Y-%m-%d} to {lake.nights[-1]:%Y-%m-%d}), "
        f"{len(lake.files)} files\n"
        + (f"  solar-system objects (ssObjectId): {asteroids}\n" if asteroids else "")
        + f"  indexed in {root / '_cutout_index'}\n"
        f"  try: fink-cutouts get {object_id} --lake {root} --kind Science -o stamp.fits\n"
        f"   or: fink-cutouts get {object_id} --lake {root} --path {example} --format png "
        "-o stamps.png"
    )
    if args.live:
        return _demo_live(args, root)
    if args.no_lab:
        return 0
    extra = [f"--port={args.port}"] if args.port else []
    return _open_lab(root, [*extra, *(["--no-browser"] if args.no_browser else [])])


def _demo_live(args: argparse.Namespace, root: Path) -> int:
    from fink_cutout_jupyter.demo.live import LiveDemoNight

    with LiveDemoNight(root, seed=args.seed, batch_seconds=args.batch_seconds) as live:
        print(
            f"  live night: a micro-batch every {args.batch_seconds:g} s in "
            f"{root / live.directory}, indexed by a follower as it is committed",
            flush=True,
        )
        if args.no_lab:
            return live.wait()
        extra = [f"--port={args.port}"] if args.port else []
        return _open_lab(root, [*extra, *(["--no-browser"] if args.no_browser else [])])


def _open_lab(root: Path, extra: list[str]) -> int:
    if shutil.which("jupyter") is None:
        print("JupyterLab is not installed: pip install 'fink-cutout-jupyter[demo]'")
        return 1
    from fink_cutout_jupyter.demo.notebook import write_quickstart
    from fink_cutout_jupyter.doors.settings import LAKE_ENVIRONMENT

    notebook, done = write_quickstart(root, bundled_quickstart())
    print(f"  {done}")
    environment = {**os.environ, LAKE_ENVIRONMENT: str(root)}
    command = [
        "jupyter",
        "lab",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.jpserver_extensions={'fink_cutout_jupyter': True}",
        f"--FinkCutoutsApp.lake={root}",
        # The printed URL (and the browser) open the quickstart, not the Launcher.
        f"--LabApp.default_url=/lab/tree/{notebook.name}",
        *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        *extra,
    ]
    lab = subprocess.Popen(command, env=environment)

    def forward(number, _frame) -> None:  # stopping the demo stops its JupyterLab
        lab.send_signal(number)

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, forward)
    return lab.wait()


def bundled(name: str, checkout_directory: str) -> bytes:
    """A file packed into the wheel, or found in its directory of a checkout."""
    from importlib.resources import files

    packed = files("fink_cutout_jupyter").joinpath(name)
    if packed.is_file():
        return packed.read_bytes()
    return (Path(__file__).parents[1] / checkout_directory / name).read_bytes()


def bundled_quickstart() -> bytes:
    """The quickstart notebook."""
    return bundled("quickstart.ipynb", "notebooks")


def _print_bytes(data: bytes) -> int:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


def _get(args: argparse.Namespace) -> int:
    """One request to the same contract the HTTP API serves, answered in-process."""
    from fink_cutout_jupyter.contract.api import CutoutAPI
    from fink_cutout_jupyter.storage.lake import Lake
    from fink_cutout_jupyter.surveys import survey_named

    if args.all or args.format in FLIPBOOK_FORMATS:
        return _get_all(args)
    if args.object_id is None and args.candid is None:
        raise BadParameter("objectId: give an OBJECT_ID or --candid")
    survey = survey_named(args.survey) if args.survey else None
    params = {
        "objectId": args.object_id,
        "candid": args.candid,
        "hdfsPath": args.path,
        "kind": args.kind,
        "return_type": args.format,
    }
    api = CutoutAPI(Lake(args.lake, args.science_dir, args.online_dir), args.index, survey)
    reply = api.handle("cutouts", {name: v for name, v in params.items() if v is not None})
    if reply.status != 200:
        print(f"fink-cutouts: error: {json.loads(reply.body)['text']}", file=sys.stderr)
        return 1
    if args.output:
        Path(args.output).write_bytes(reply.body)
        print(f"wrote {args.output} ({len(reply.body)} bytes)", file=sys.stderr)
    else:
        sys.stdout.buffer.write(reply.body)
        sys.stdout.buffer.flush()
    return 0


def _get_all(args: argparse.Namespace) -> int:
    """`get --all`: the object's flip-book (`client.frames`, `cutouts.flipbook`), in-process."""
    parser = args.parser
    if not args.all:
        parser.error(f"--format {args.format}: a flip-book of every alert; add --all")
    if args.format not in (*FLIPBOOK_FORMATS, "fits"):
        parser.error(f"--format {args.format}: with --all, one of gif, apng, fits")
    for given, option in ((args.candid, "--candid"), (args.path, "--path")):
        if given is not None:
            parser.error(f"--all takes every alert of the object: not with {option}")
    if args.object_id is None:
        parser.error("--all: give the OBJECT_ID whose alerts to write")
    if args.output is None:
        parser.error("--all: give the file to write, -o FILE")
    if args.scale < 1:
        parser.error(f"--scale: {args.scale}; expected a whole number >= 1")

    from fink_cutout_jupyter.client import CutoutClient, CutoutClientError
    from fink_cutout_jupyter.client.frames import all_frames
    from fink_cutout_jupyter.client.transport import InProcessTransport
    from fink_cutout_jupyter.contract.api import CutoutAPI
    from fink_cutout_jupyter.cutouts import flipbook
    from fink_cutout_jupyter.cutouts.render import RenderOptions
    from fink_cutout_jupyter.storage.lake import Lake
    from fink_cutout_jupyter.surveys import survey_named

    # the picture's options checked (BadParameter naming them) before any alert is read
    RenderOptions(stretch=args.stretch, interval=args.interval, colormap=args.colormap)
    if args.format in FLIPBOOK_FORMATS:
        flipbook.frame_duration(args.fps, args.format)  # a rate the file can hold

    lake = Lake(args.lake, args.science_dir, args.online_dir)
    client = CutoutClient(lake=lake)
    if (args.index or args.survey) and isinstance(client.transport, InProcessTransport):
        survey = survey_named(args.survey) if args.survey else None
        client.transport.api = CutoutAPI(lake, args.index, survey)
    kinds = list(KINDS) if args.kind == "All" else [args.kind]
    try:
        frames = all_frames(client, args.object_id, kinds=kinds)
    except CutoutClientError as error:
        print(f"fink-cutouts: error: {error}", file=sys.stderr)
        return 1
    try:
        if args.format == "fits":
            written = flipbook.write_fits_cube(args.output, frames, args.object_id)
        else:
            cuts = flipbook.fixed_cuts(frames, args.interval)
            images = flipbook.frame_images(
                frames, cuts, args.stretch, args.colormap, scale=args.scale
            )
            written = flipbook.write_animation(args.output, images, args.fps, args.format)
    except OSError as error:
        print(f"fink-cutouts: error: {error}", file=sys.stderr)
        return 1
    missing = sum(not status.startswith("ok") for status in frames.status)
    dates = [date for date in frames.table["date"] if isinstance(date, str)]
    span = f", {dates[0][:10]} to {dates[-1][:10]}" if dates else ""
    print(
        f"wrote {written} ({written.stat().st_size} bytes): {len(frames)} frames of "
        f"{args.object_id}{span}" + (f", {missing} without stamps" if missing else ""),
        file=sys.stderr,
    )
    return 0


def _history(args: argparse.Namespace) -> int:
    """The answer of /api/v1/history, from a server (--url) or the lake read in-process."""
    params = {"ssObjectId" if args.ss else "objectId": args.object_id}
    if args.url:
        from fink_cutout_jupyter.client import CutoutClient, CutoutClientError

        named = {"ss_object_id": args.object_id} if args.ss else {"object_id": args.object_id}
        try:
            body = CutoutClient(url=args.url).history(**named)
        except CutoutClientError as error:
            print(f"fink-cutouts: error: {error}", file=sys.stderr)
            return 1
    else:
        from fink_cutout_jupyter.contract.api import CutoutAPI
        from fink_cutout_jupyter.storage.lake import Lake

        api = CutoutAPI(Lake(args.lake, args.science_dir, args.online_dir), args.index)
        reply = api.handle("history", params)
        if reply.status != 200:
            print(f"fink-cutouts: error: {json.loads(reply.body)['text']}", file=sys.stderr)
            return 1
        body = json.loads(reply.body)
    if args.json:
        print(json.dumps(body, indent=1))
    else:
        print(history_table(body))
    return 0


def history_table(body: dict) -> str:
    """A /history answer as text: a line naming the object, then one line per point."""
    names = [f"{body['survey']} object {body['objectId']}" if body["objectId"] else ""]
    if body.get("ssObjectId"):
        designation = f" ({body['designation']})" if body.get("designation") else ""
        names.append(f"solar-system object {body['ssObjectId']}{designation}")
    points = body["points"]
    title = (
        f"{', '.join(filter(None, names))}: {len(points)} points, value in {body['unit']}, "
        f"latest alert {body['latestAlertId']}"
    )
    columns = ("kind", "time", "mjd", "band", "value", "error", "alertId", "indexed")
    rows = [
        (
            point["kind"],
            point["time"],
            f"{point['mjd']:.6f}",
            point["band"] or "",
            "" if point["value"] is None else f"{point['value']:.6g}",
            "" if point["error"] is None else f"{point['error']:.3g}",
            point["alertId"] or "",
            "yes" if point["indexed"] else "",
        )
        for point in points
    ]
    widths = [max(len(text) for text in column) for column in zip(columns, *rows, strict=True)]
    lines = [
        title,
        "  ".join(name.ljust(width) for name, width in zip(columns, widths, strict=True)),
    ]
    lines += [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def _export(args: argparse.Namespace) -> int:
    """`fink-cutouts export`: the ids read from their file, then `export` (or Spark's)."""
    kinds = args.kind or list(KINDS)
    if args.spark:
        return _export_with_spark(args, kinds)
    from fink_cutout_jupyter.client import CutoutClient, CutoutClientError
    from fink_cutout_jupyter.client.export import export
    from fink_cutout_jupyter.storage.lake import Lake

    ids, column = read_ids(args.ids, args.column)
    by = BY_COLUMN.get(column or "", "auto") if args.by == "auto" else args.by
    if args.url:
        client = CutoutClient(url=args.url)
    else:
        client = CutoutClient(lake=Lake(args.lake, args.science_dir, args.online_dir))
    try:
        summary = export(
            client,
            ids,
            args.out,
            kinds,
            by,
            args.batch_size,
            args.format,
            progress=not args.quiet,
            restart=args.restart,
        )
    except CutoutClientError as error:  # refused by the batch door: parts written are kept
        again = "; run the same command again to resume" if error.status in (502, 503, 504) else ""
        print(f"fink-cutouts: error: {error}{again}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:  # a CutoutError is printed by main
        if isinstance(error, CutoutError):
            raise
        print(f"fink-cutouts: error: {error}", file=sys.stderr)
        return 1
    print(f"exported {summary}")
    if summary.table != summary.out:
        print(f"  table: {summary.table}")
    return 0


def _export_with_spark(args: argparse.Namespace, kinds: list[str]) -> int:
    if args.url:
        raise BadParameter("url: --spark reads the lake itself; give --lake, not --url")
    if args.format != "parquet":
        raise BadParameter("format: --spark writes Parquet only")
    from fink_cutout_jupyter.doors.spark import export_with_spark
    from fink_cutout_jupyter.index.spark import spark_session
    from fink_cutout_jupyter.storage.lake import Lake

    lake = Lake(args.lake, args.science_dir, args.online_dir)
    written = export_with_spark(
        spark_session(args.master), args.ids, lake, args.out, kinds, args.by, args.column
    )
    print(
        f"exported {written.rows} rows to {written.out} with Spark in {written.seconds:.1f} s: "
        f"ok {written.ok}, not found {written.not_found}, other failures {written.failed}"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from fink_cutout_jupyter.doors.hub_auth import HubService
    from fink_cutout_jupyter.doors.settings import LAKE_ENVIRONMENT, DoorSettings
    from fink_cutout_jupyter.doors.standalone import serve

    given = {name: getattr(args, name) for name in DoorSettings.names()}
    settings = DoorSettings.from_environment(**given | {"lake": args.lake or None})
    if not settings.lake:
        raise BadParameter(
            f"lake: give --lake (a directory, hdfs:// or s3:// URI) or set {LAKE_ENVIRONMENT}"
        )
    try:
        hub = HubService.from_environment()
    except ValueError as error:
        raise SystemExit(f"fink-cutouts serve: {error}") from None
    if args.jupyterhub and hub is None:
        raise SystemExit(
            "fink-cutouts serve --jupyterhub: no JupyterHub service environment "
            "(JUPYTERHUB_SERVICE_NAME, JUPYTERHUB_API_URL, JUPYTERHUB_SERVICE_URL); "
            "register the service in jupyterhub_config.py (see docs/how-to/jupyterhub.md)"
        )
    serve(
        settings,
        args.host or (hub.host if hub else "127.0.0.1"),
        args.port or (hub.port if hub else 8000),
        args.idle_timeout,
        args.base_url or (hub.prefix if hub else "/"),
        hub,
    )
    return 0


def _index_of(args: argparse.Namespace):
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    return AlertIndex(Lake(args.lake, args.science_dir, args.online_dir), args.index)


def _index_build(args: argparse.Namespace) -> int:
    import time

    from fink_cutout_jupyter.index.build import build

    index = _index_of(args)
    if args.all == bool(args.night):
        raise BadParameter("night: give --night YYYYMMDD (repeatable) or --all, not both")
    if args.rebuild and not args.all:
        raise BadParameter("rebuild: --rebuild replaces the whole index; use it with --all")
    nights = index.lake.nights() if args.all else args.night
    started = time.perf_counter()
    if args.spark:
        from fink_cutout_jupyter.index.spark import build_with_spark, spark_session

        spark = spark_session(args.master)
        reports = build_with_spark(
            spark,
            index.lake,
            nights,
            args.index or "",
            base=args.all,
            progress=not args.quiet,
            wait=args.wait,
            rebuild=args.rebuild,
        ).nights
    else:
        reports = build(
            index,
            nights,
            workers=args.workers,
            progress=not args.quiet,
            rebuild=args.rebuild,
            wait=args.wait,
        )
    for report in reports:
        print(f"{report.night:%Y-%m-%d}: {report.entries} alerts in {report.files} files")
    print(
        f"indexed {sum(r.files for r in reports)} files, {sum(r.entries for r in reports)} "
        f"alerts, {sum(r.bytes_read for r in reports) / 1e6:.1f} MB read, "
        f"in {time.perf_counter() - started:.1f} s"
        + (" (Spark, as a new base generation)" if args.spark and args.all else "")
    )
    return 0


def _index_compact(args: argparse.Namespace) -> int:
    if args.spark:
        from fink_cutout_jupyter.index.spark import compact_with_spark, spark_session

        result = compact_with_spark(
            spark_session(args.master), _index_of(args).lake, args.index or "", args.wait
        )
    else:
        from fink_cutout_jupyter.index.build import compact

        result = compact(_index_of(args), progress=not args.quiet, wait=args.wait)
    print(
        f"merged {result['merged_nights']} nights into generation {result['generation']} "
        f"({result['buckets']} buckets)"
    )
    return 0


def _index_stats(args: argparse.Namespace) -> int:
    from fink_cutout_jupyter.index.layout import REPAIR_COMMAND

    index = _index_of(args)
    if args.verify and (damaged := index.verify()):
        for problem in damaged:
            print(f"damaged: {problem}", file=sys.stderr)
        print(
            f"fink-cutouts: error: {len(damaged)} damaged index files; repair: {REPAIR_COMMAND}",
            file=sys.stderr,
        )
        return 1
    for key, value in index.stats().items():
        print(f"{key}: {value}")
    stale = index.stale_files(check_contents=args.verify)
    print(f"stale_files: {len(stale)}")
    for path in stale:
        print(f"  changed since indexed (re-run index build for its night): {path}")
    return 0


def _index_follow(args: argparse.Namespace) -> int:
    import logging

    from fink_cutout_jupyter.index.follow import Follower

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    settle_cycles = args.settle_cycles
    if settle_cycles is None:
        settle_cycles = 1 if args.once else 2
    if settle_cycles < 1:
        raise BadParameter(f"--settle-cycles: {args.settle_cycles}; at least 1")
    follower = Follower(
        _index_of(args), args.interval, args.workers, settle_cycles=settle_cycles, wait=args.wait
    )
    status = follower.run(once=args.once)
    if status:
        report = follower.last_report
        summary = report.summary() if report is not None else "the cycle failed"
        print(f"fink-cutouts: index follow: {summary}", file=sys.stderr)
    return status


def _index_unlock(args: argparse.Namespace) -> int:
    from fink_cutout_jupyter.index.lock import break_lock

    held = break_lock(_index_of(args).store, force=args.force)
    print(f"removed the writer lock of {held}" if held else "the index had no writer lock")
    return 0


if __name__ == "__main__":
    sys.exit(main())
