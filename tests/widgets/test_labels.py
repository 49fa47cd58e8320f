"""A gallery's vetting labels: their times, their files (CSV and Parquet, read back by pyarrow and
pandas), autosaves that survive a full disk, and two writers merged on one file."""

import io

import pandas as pd
import pytest

from fink_cutout_jupyter.widgets.labels import Labels


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_labels_keep_their_time_and_survive_a_file(tmp_path, suffix):
    labels = Labels(["real", "bogus", "unsure"])
    labels.set("ZTF1", "real")
    labels.set(2, "bogus")
    labels.set("ZTF1", "unsure")  # relabelled: the new label and time
    labels.set("ZTF3", "real")
    labels.set("ZTF3", None)
    frame = labels.frame()
    assert list(frame.columns) == ["id", "label", "labelled_at"]
    assert frame[["id", "label"]].values.tolist() == [["ZTF1", "unsure"], ["2", "bogus"]]
    assert str(frame["labelled_at"].dt.tz) == "UTC"
    labels.save(tmp_path / f"labels{suffix}")
    again = Labels(["real", "bogus", "unsure"])
    assert again.load(tmp_path / f"labels{suffix}") == 2
    assert again.as_dict() == {"ZTF1": "unsure", "2": "bogus"}
    assert (again.frame()["labelled_at"] == frame["labelled_at"]).all()


def test_unknown_label_names_are_refused(tmp_path):
    labels = Labels(["real", "bogus"])
    with pytest.raises(ValueError, match="not one of real, bogus"):
        labels.set("x", "maybe")
    pd.DataFrame({"id": ["x"], "label": ["maybe"], "labelled_at": ["2026-01-01"]}).to_csv(
        tmp_path / "other.csv", index=False
    )
    with pytest.raises(ValueError, match=r"label .maybe. is not one of real, bogus"):
        labels.load(tmp_path / "other.csv")
    with pytest.raises(ValueError, match="distinct"):
        Labels(["a", "a"])


NAMES = ["real", "bogus", "unsure"]
# Alert ids past 2**53: as floats they lose their last digits.
BIG_IDS = ["1786104593715015012", "1786104593715015013", "1786104593715015014"]


def write_text(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_full_disk_during_a_save_keeps_the_previous_file(tmp_path, suffix):
    import errno
    import subprocess
    import sys

    path = tmp_path / f"labels{suffix}"
    previous = Labels(NAMES)
    previous.set(BIG_IDS[0], "real")
    previous.save(path)
    before = path.read_bytes()
    # A process whose files may not grow past 4 KB, as on a full disk (SIGXFSZ ignored: the
    # write fails with EFBIG instead of killing it), saves 300 labels over the file.
    script = (
        "import resource, signal, sys\n"
        "from fink_cutout_jupyter.widgets.labels import Labels\n"
        f"labels = Labels({NAMES!r})\n"
        "for number in range(300):\n"
        "    labels.set(f'ZTF24{number:07d}', 'bogus')\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        f"    labels.save({str(path)!r})\n"
        "except OSError as error:\n"
        "    print(type(error).__name__, error.errno)\n"
        "    sys.exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.split() == ["OSError", str(errno.EFBIG)]
    assert path.read_bytes() == before, "the previous file is whole"
    frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path, dtype=str)
    assert frame["id"].tolist() == [BIG_IDS[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name], "no temporary file left"


def test_saving_refuses_a_directory_a_missing_directory_and_unknown_suffixes(tmp_path):
    labels = Labels(NAMES)
    labels.set("ZTF1", "real")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        labels.save(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"its directory .*nowhere does not exist"):
        labels.save(tmp_path / "nowhere" / "labels.csv")
    with pytest.raises(ValueError, match=r"\.csv, \.parquet or \.pq"):
        labels.save(tmp_path / "labels.txt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["LABELS.PARQUET", "labels.pq", "labels.Parquet"])
def test_parquet_suffixes_in_any_case_write_parquet(tmp_path, name):
    import pyarrow.parquet as pq

    labels = Labels(NAMES)
    labels.set(BIG_IDS[0], "bogus")
    labels.save(tmp_path / name)
    table = pq.read_table(tmp_path / name)  # an independent reader: it is Parquet
    assert table.column("id").to_pylist() == [BIG_IDS[0]]
    assert table.column("label").to_pylist() == ["bogus"]
    assert Labels(NAMES).load(tmp_path / name) == 1


def test_ids_are_read_as_text_exactly(tmp_path):
    path = write_text(
        tmp_path / "labels.csv",
        "id,label,labelled_at\n"
        f"{BIG_IDS[0]},real,2026-01-01T00:00:00+00:00\n"
        "007,bogus,2026-01-01 01:00:00\n"
        "nan,unsure,2026-01-01T02:00:00+01:00\n",
    )
    labels = Labels(NAMES)
    assert labels.load(path) == 3
    assert labels.as_dict() == {BIG_IDS[0]: "real", "007": "bogus", "nan": "unsure"}
    times = labels.frame()["labelled_at"].tolist()
    assert times == [
        pd.Timestamp("2026-01-01T00:00:00Z"),
        pd.Timestamp("2026-01-01T01:00:00Z"),  # no zone: UTC
        pd.Timestamp("2026-01-01T01:00:00Z"),
    ]


def test_a_blank_id_loads_nothing_and_names_its_row(tmp_path):
    path = write_text(
        tmp_path / "labels.csv",
        "id,label,labelled_at\n"
        f"{BIG_IDS[0]},real,2026-01-01T00:00:00+00:00\n"
        ",bogus,2026-01-01T00:00:00+00:00\n"
        f"{BIG_IDS[1]},real,2026-01-01T00:00:00+00:00\n",
    )
    labels = Labels(NAMES)
    labels.set("ZTF1", "unsure")
    with pytest.raises(ValueError, match="nothing loaded: row 2: blank id"):
        labels.load(path)
    assert labels.as_dict() == {"ZTF1": "unsure"}


def test_a_bad_date_in_row_3_loads_nothing(tmp_path):
    path = write_text(
        tmp_path / "labels.csv",
        "id,label,labelled_at\n"
        f"{BIG_IDS[0]},real,2026-01-01T00:00:00+00:00\n"
        f"{BIG_IDS[1]},bogus,2026-01-01T00:00:00+00:00\n"
        f"{BIG_IDS[2]},real,yesterday\n",
    )
    labels = Labels(NAMES)
    with pytest.raises(ValueError, match="row 3: labelled_at 'yesterday' is not a date"):
        labels.load(path)
    assert labels.as_dict() == {}


def test_parquet_ids_as_integers_are_read_exactly_and_floats_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    when = pa.array([pd.Timestamp("2026-01-01T00:00:00Z")] * 2, pa.timestamp("us", "UTC"))
    integers = [int(i) for i in BIG_IDS[:2]]
    pq.write_table(
        pa.table({"id": integers, "label": ["real", "bogus"], "labelled_at": when}),
        tmp_path / "integers.parquet",
    )
    labels = Labels(NAMES)
    assert labels.load(tmp_path / "integers.parquet") == 2
    assert labels.as_dict() == {BIG_IDS[0]: "real", BIG_IDS[1]: "bogus"}
    pq.write_table(
        pa.table({"id": [float(i) for i in integers], "label": ["real"] * 2, "labelled_at": when}),
        tmp_path / "floats.parquet",
    )
    with pytest.raises(ValueError, match="id column is double"):
        Labels(NAMES).load(tmp_path / "floats.parquet")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_every_change_is_autosaved_and_read_back_by_new_labels(tmp_path, suffix):
    path = tmp_path / f"autosave{suffix}"
    labels = Labels(NAMES, autosave=path)
    assert not path.exists(), "nothing written before a change"
    labels.set(BIG_IDS[0], "real")
    labels.set(BIG_IDS[1], "bogus")
    read = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path, dtype=str)
    assert read[["id", "label"]].values.tolist() == [[BIG_IDS[0], "real"], [BIG_IDS[1], "bogus"]]
    labels.set(BIG_IDS[0], None)
    labels.set(BIG_IDS[2], "unsure")
    again = Labels(NAMES, autosave=path)  # as after a kernel restart
    assert again.loaded == 2
    assert again.as_dict() == {BIG_IDS[1]: "bogus", BIG_IDS[2]: "unsure"}
    assert again.frame()["labelled_at"].tolist() == labels.frame()["labelled_at"].tolist()


def test_an_autosave_file_that_cannot_be_read_is_refused_and_kept(tmp_path):
    path = write_text(tmp_path / "autosave.csv", "id,label,labelled_at\nZTF1,maybe,2026-01-01\n")
    with pytest.raises(ValueError, match="row 1: label 'maybe' is not one of"):
        Labels(NAMES, autosave=path)
    assert path.read_text() == "id,label,labelled_at\nZTF1,maybe,2026-01-01\n"


def test_a_failed_autosave_keeps_the_labels_and_the_next_change_saves_them(tmp_path):
    path = tmp_path / "autosave.csv"
    labels = Labels(NAMES, autosave=path)
    path.mkdir()  # the file cannot be written now
    labels.set("ZTF1", "real")
    assert isinstance(labels.unsaved, IsADirectoryError)
    assert labels.as_dict() == {"ZTF1": "real"}
    path.rmdir()
    labels.set("ZTF2", "bogus")
    assert labels.unsaved is None
    assert pd.read_csv(path, dtype=str)["id"].tolist() == ["ZTF1", "ZTF2"]


def test_the_default_autosave_file_is_named_after_the_set_of_ids(tmp_path, monkeypatch):
    from fink_cutout_jupyter.widgets.labels import default_labels_path

    monkeypatch.chdir(tmp_path)
    path = default_labels_path(["ZTF1", 2, "ZTF3"])
    assert path.parent == tmp_path
    assert path.name.startswith("fink-labels-")
    assert path.suffix == ".csv"
    assert default_labels_path([2, "ZTF3", "ZTF1", "ZTF1"]) == path
    assert default_labels_path(["ZTF1", 2]) != path


def test_labels_autosaved_to_one_file_by_two_writers_are_merged(tmp_path):
    path = tmp_path / "shared.csv"
    first = Labels(NAMES, autosave=path)
    second = Labels(NAMES, autosave=path)  # e.g. the same ids in another notebook
    first.set("ZTF1", "real")
    second.set("ZTF2", "bogus")  # takes in ZTF1 from the file first
    first.set("ZTF1", None)  # removed in one...
    second.set("ZTF3", "unsure")  # ...stays removed in the other
    assert pd.read_csv(path, dtype=str)[["id", "label"]].values.tolist() == [
        ["ZTF2", "bogus"],
        ["ZTF3", "unsure"],
    ]
    assert second.as_dict() == {"ZTF2": "bogus", "ZTF3": "unsure"}
    first.set("ZTF2", "real")  # both relabel ZTF2: the later wins
    second.set("ZTF2", "unsure")
    first.set("ZTF4", "real")
    assert pd.read_csv(path, dtype=str)[["id", "label"]].values.tolist() == [
        ["ZTF2", "unsure"],
        ["ZTF3", "unsure"],
        ["ZTF4", "real"],
    ]
    assert first.unsaved is None
    assert second.unsaved is None


def test_a_writer_waits_for_another_writer_halfway_through_its_autosave(tmp_path):
    import threading

    path = tmp_path / "shared.csv"
    halfway, go_on = threading.Event(), threading.Event()

    class Paused(Labels):
        def _encoded(self, kind: str) -> bytes:  # after reading the file, before writing it
            halfway.set()
            go_on.wait(timeout=30)
            return super()._encoded(kind)

    first, second = Paused(NAMES, autosave=path), Labels(NAMES, autosave=path)
    paused = threading.Thread(target=first.set, args=("ZTF1", "real"))
    paused.start()
    assert halfway.wait(timeout=30)
    other = threading.Thread(target=second.set, args=("ZTF2", "bogus"))
    other.start()
    other.join(timeout=1)  # with the lock it waits; without, it would write now and be lost
    go_on.set()
    paused.join(timeout=30)
    other.join(timeout=30)
    assert sorted(pd.read_csv(path, dtype=str)["id"]) == ["ZTF1", "ZTF2"]


def test_a_label_removed_by_another_writer_after_a_failed_autosave_stays_removed(tmp_path):
    """The first writer's autosave takes in the second's label, then fails (its files may not
    grow: EFBIG, as on a full disk); the second removes that label; the first's next autosave
    must not bring it back."""
    import errno
    import json
    import subprocess
    import sys

    path = tmp_path / "shared.csv"
    script = (
        "import json, resource, signal, sys\n"
        "from fink_cutout_jupyter.widgets.labels import Labels\n"
        f"first = Labels({NAMES!r}, autosave={str(path)!r})\n"
        f"second = Labels({NAMES!r}, autosave={str(path)!r})\n"
        "first.set('ZTF1', 'real')\n"
        "second.set('ZTF2', 'bogus')  # the file: ZTF1, ZTF2\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (16, hard))\n"
        "first.set('ZTF3', 'unsure')  # takes in ZTF2, then cannot write\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))\n"
        "failed = getattr(first.unsaved, 'errno', repr(first.unsaved))\n"
        "between = open(sys.argv[1]).read()\n"
        "second.set('ZTF2', None)  # the file: ZTF1\n"
        "first.set('ZTF4', 'real')\n"
        "print(json.dumps({'failed': failed, 'between': between, 'first': first.as_dict(),\n"
        "                  'unsaved': repr(first.unsaved)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["failed"] == errno.EFBIG
    between = pd.read_csv(io.StringIO(seen["between"]), dtype=str)
    assert sorted(between["id"]) == ["ZTF1", "ZTF2"], "the failed autosave wrote nothing"
    assert seen["unsaved"] == "None"
    written = pd.read_csv(path, dtype=str)
    assert written[["id", "label"]].values.tolist() == [
        ["ZTF1", "real"],
        ["ZTF3", "unsure"],
        ["ZTF4", "real"],
    ]
    assert seen["first"] == {"ZTF1": "real", "ZTF3": "unsure", "ZTF4": "real"}
