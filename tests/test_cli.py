import json
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits

from fink_cutout_jupyter.cli import main
from fink_cutout_jupyter.demo import DEMO_OBJECT_ID


def test_get_writes_the_original_fits(ztf_rows, tmp_path):
    row = ztf_rows[-1]
    out = tmp_path / "stamp.fits"
    status = main(
        [
            "get",
            row["objectId"],
            "--lake",
            str(row["lake"].uri),
            "--path",
            row["path"],
            "--candid",
            str(row["candid"]),
            "--kind",
            "Science",
            "-o",
            str(out),
        ]
    )
    assert status == 0
    assert out.read_bytes() == row["fits"]["Science"]


def test_get_array_to_stdout(demo, capsysbinary):
    path = demo.demo_object_files[-1]
    status = main(
        ["get", DEMO_OBJECT_ID, "--lake", str(demo.root), "--path", path, "--format", "array"]
    )
    assert status == 0
    arrays = json.loads(capsysbinary.readouterr().out)
    assert [np.array(a).shape for a in arrays] == [(63, 63)] * 3


def test_get_png_and_all_fits(demo, tmp_path):
    path = demo.demo_object_files[0]
    for fmt, magic in [("png", b"\x89PNG"), ("fits", b"SIMPLE")]:
        out = tmp_path / f"all.{fmt}"
        assert (
            main(
                [
                    "get",
                    DEMO_OBJECT_ID,
                    "--lake",
                    str(demo.root),
                    "--path",
                    path,
                    "--format",
                    fmt,
                    "-o",
                    str(out),
                ]
            )
            == 0
        )
        assert out.read_bytes().startswith(magic)
    with fits.open(tmp_path / "all.fits") as packed:
        assert len(packed) == 4


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["ZTF24aaaaaaa"], "objectId: no alert of ZTF24aaaaaaa"),
        (["toto"], "objectId: 'toto' is not a ZTF object id"),
        ([], "objectId: give an OBJECT_ID or --candid"),
        ([DEMO_OBJECT_ID, "--candid", "x1"], "candid: 'x1' is not an integer id"),
    ],
)
def test_get_fails_with_one_line(demo, capsys, arguments, message):
    path = demo.demo_object_files[0]
    assert main(["get", *arguments, "--lake", str(demo.root), "--path", path]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert message in error


def test_get_refuses_paths_outside_the_lake(demo, capsys):
    assert main(["get", DEMO_OBJECT_ID, "--lake", str(demo.root), "--path", "/etc/passwd"]) == 1
    assert "is absolute" in capsys.readouterr().err


def test_demo_command_writes_a_lake_and_says_where(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "fink_cutout_jupyter.cli",
            "demo",
            "--out",
            str(tmp_path / "lake"),
            "--no-lab",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"Demo lake: {tmp_path / 'lake'}" in completed.stdout
    command = completed.stdout.split("try: ", 1)[1].splitlines()[0].split()
    assert command[:2] == ["fink-cutouts", "get"]
    out = tmp_path / "stamp.fits"
    assert "--path" not in command, "the demo lake is indexed: the object id is enough"
    assert main([*command[1:-1], str(out)]) == 0
    with fits.open(out, ignore_missing_simple=True) as stamp:
        assert stamp[0].data.shape == (63, 63)
    second = completed.stdout.split("or: ", 1)[1].splitlines()[0].split()
    assert main([*second[1:-1], str(tmp_path / "stamps.png")]) == 0
