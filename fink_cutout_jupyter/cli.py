"""The ``fink-cutouts`` command: demo lake, single cutouts from the command line."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import BadParameter, CutoutError
from .surveys import KINDS


def main(argv: list[str] | None = None) -> int:
    """Run ``fink-cutouts``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CutoutError as error:
        print(f"fink-cutouts: error: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fink-cutouts", description="Fink alert cutouts straight from the data lake."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="write a synthetic lake and open JupyterLab on it")
    demo.add_argument("--out", default="fink-demo-lake", help="lake root (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    demo.add_argument("--no-lab", action="store_true", help="only write the lake")
    demo.set_defaults(run=_demo)

    get = commands.add_parser("get", help="write the cutouts of one alert")
    get.add_argument("object_id", nargs="?", help="object id, e.g. ZTF24abssjsb")
    get.add_argument("--lake", required=True, help="lake root: directory, hdfs:// or s3:// URI")
    get.add_argument("--path", required=True, help="Parquet file, relative to the lake root")
    get.add_argument("--candid", help="alert id (ZTF candid, Rubin diaSourceId); default: latest")
    get.add_argument("--kind", default="All", choices=[*KINDS, "All"])
    get.add_argument("--format", default="fits", choices=["fits", "array", "png"])
    get.add_argument("--survey", choices=["ztf", "lsst"], help="default: from the file's columns")
    get.add_argument("-o", "--output", help="file to write (default: standard output)")
    get.set_defaults(run=_get)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from .demo import DEMO_OBJECT_ID, make_demo_lake

    lake = make_demo_lake(args.out, seed=args.seed)
    root = lake.root.resolve()
    example = lake.demo_object_files[-1]
    print(
        f"Demo lake: {root}\n"
        f"  {lake.alerts} alerts of {lake.objects} objects over {len(lake.nights)} nights "
        f"({lake.nights[0]:%Y-%m-%d} to {lake.nights[-1]:%Y-%m-%d}), {len(lake.files)} files\n"
        f"  try: fink-cutouts get {DEMO_OBJECT_ID} --lake {root} --path {example} "
        "--kind Science -o stamp.fits"
    )
    if args.no_lab:
        return 0
    return _open_lab(root)


def _open_lab(root: Path) -> int:
    if shutil.which("jupyter") is None:
        print("JupyterLab is not installed: pip install 'fink-cutout-jupyter[demo]'")
        return 1
    notebook = root / "quickstart.ipynb"
    notebook.write_bytes(_bundled_quickstart())
    environment = {**os.environ, "FINK_CUTOUTS_LAKE": str(root)}
    command = ["jupyter", "lab", f"--ServerApp.root_dir={root}", str(notebook)]
    return subprocess.call(command, env=environment)


def _bundled_quickstart() -> bytes:
    """The quickstart notebook: packed into the wheel, or beside the package in a checkout."""
    from importlib.resources import files

    packed = files("fink_cutout_jupyter").joinpath("quickstart.ipynb")
    if packed.is_file():
        return packed.read_bytes()
    return (Path(__file__).parents[1] / "notebooks" / "quickstart.ipynb").read_bytes()


def _get(args: argparse.Namespace) -> int:
    from .formats import encode
    from .lake import Lake
    from .reader import CutoutReader
    from .surveys import survey_named

    if args.object_id is None and args.candid is None:
        raise BadParameter("objectId: give an OBJECT_ID or --candid")
    survey = survey_named(args.survey) if args.survey else None
    reader = CutoutReader(Lake(args.lake), survey)
    kinds = KINDS if args.kind == "All" else (args.kind,)
    alert = reader.read(args.path, object_id=args.object_id, alert_id=args.candid, kinds=kinds)
    encoded = encode(alert, args.format)
    if args.output:
        Path(args.output).write_bytes(encoded.body)
        print(f"wrote {args.output} ({len(encoded.body)} bytes)", file=sys.stderr)
    else:
        sys.stdout.buffer.write(encoded.body)
        sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
