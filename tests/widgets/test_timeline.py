"""CutoutTimeline without a browser, on the demo lake in-process: the frames (astropy's reading
of the stored bytes, in time order), the pages sent to the browser once each, the cuts (astropy's
interval over every frame loaded), the batch requests (a page at a time, as the frame nears the
end of those loaded), the light curve's ring and clicks, the exports read back by Pillow and
astropy, and what the widget says when the object is unknown."""

import base64
import io

import matplotlib
import numpy as np
import pyarrow.parquet as pq
import pytest
import traitlets
from astropy.io import fits
from astropy.visualization import LinearStretch, LogStretch, PercentileInterval, ZScaleInterval
from PIL import Image
from support.exports import astropy_pixels, lake_files
from support.object_alerts import all_pixels, object_alerts

from fink_cutout_jupyter.client import CutoutClient
from fink_cutout_jupyter.demo.make import make_demo_lake
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID
from fink_cutout_jupyter.widgets.timeline import CURVE_SAMPLES, CutoutTimeline

KINDS = ("Science", "Template", "Difference")


class CountingClient:
    """The real client, each of its batch requests' ids recorded."""

    def __init__(self, client: CutoutClient) -> None:
        self.client = client
        self.batches: list[list[int]] = []

    def batch(self, ids, *args, **kwargs):
        self.batches.append([int(i) for i in ids])
        return self.client.batch(ids, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.fixture(scope="module")
def client(demo):
    return CutoutClient(lake=str(demo.root))


@pytest.fixture(scope="module")
def stored(demo):
    """The demo object's alerts as pyarrow and astropy read the lake, oldest first."""
    return object_alerts(demo.root, DEMO_OBJECT_ID)


def browser_asks(timeline: CutoutTimeline, have: list[int]) -> list[tuple[dict, list]]:
    """What the kernel sends when the browser asks for pages (a custom comm message, as
    ``static/timeline.js`` sends it), holding those starting at `have`."""
    sent: list[tuple[dict, list]] = []
    original = timeline.frames.send
    timeline.frames.send = lambda content, buffers=None: sent.append((content, buffers or []))
    try:
        asked = {"type": "pages", "have": have}
        message = {"content": {"data": {"method": "custom", "content": asked}}, "buffers": []}
        timeline.frames._handle_msg(message)
    finally:
        timeline.frames.send = original
    return sent


def page_pixels(content: dict, buffers: list) -> np.ndarray:
    """A page message's buffer as (frames, kinds, height, width) float32."""
    shape = (content["count"], len(content["kinds"]), content["height"], content["width"])
    return np.frombuffer(buffers[0], dtype="<f4").reshape(shape)


def astropy_levels(stored, frame: int, kind: str, interval, stretch) -> np.ndarray:
    """A frame's stamp as levels in [0, 1] by astropy: the interval over every frame's pixels of
    the kind, clipped, stretched."""
    low, high = interval.get_limits(all_pixels(stored, kind))
    pixels = stored[frame]["stamps"][kind].astype(float)
    return stretch(np.clip((pixels - low) / (high - low), 0, 1), clip=True)


def test_frames_are_the_objects_alerts_in_time_order_as_astropy_reads_them(client, stored):
    timeline = CutoutTimeline(DEMO_OBJECT_ID, client=client)
    assert timeline.alert_ids == [alert["candid"] for alert in stored]
    assert [a["alertId"] for a in timeline.frames.alerts] == [str(a["candid"]) for a in stored]
    assert timeline.frames.alerts[0]["date"].startswith("2024-11-19T07:58:50")
    assert (timeline.play.max, timeline.slider.max) == (4, 4)
    frames = timeline.load_all()
    assert frames.alert_ids == timeline.alert_ids
    np.testing.assert_allclose(frames.jd, [alert["jd"] for alert in stored], rtol=0, atol=1e-9)
    for number, alert in enumerate(stored):
        for position, kind in enumerate(KINDS):
            np.testing.assert_array_equal(frames.stamps[number, position], alert["stamps"][kind])


def test_the_browser_gets_each_page_once_as_stored(client, stored):
    timeline = CutoutTimeline(DEMO_OBJECT_ID, client=client, page_size=2)
    timeline.load_all()
    assert timeline.frames.loaded == 5
    sent = browser_asks(timeline, [])
    assert [content["type"] for content, _ in sent] == ["page", "page", "page", "sent"]
    assert [content["start"] for content, _ in sent[:3]] == [0, 2, 4]
    for content, buffers in sent[:3]:
        assert content["kinds"] == list(KINDS)
        pixels = page_pixels(content, buffers)
        for row in range(content["count"]):
            for position, kind in enumerate(KINDS):
                expected = stored[content["start"] + row]["stamps"][kind]
                np.testing.assert_array_equal(pixels[row, position], expected)
    assert [c["start"] for c, _ in browser_asks(timeline, [0]) if c["type"] == "page"] == [2, 4]
    assert browser_asks(timeline, [0, 2, 4]) == [({"type": "sent", "loaded": 5}, [])]
    state = timeline.frames.get_state()
    binary = [*state["colormaps"].values(), *(r["curve"] for r in state["renderings"].values())]
    assert sum(len(data) for data in binary) < len(sent[0][1][0]), "no pixels in the traits"


def test_cuts_are_astropys_interval_over_the_frames_loaded_then_all(client, stored):
    timeline = CutoutTimeline(DEMO_OBJECT_ID, client=client, page_size=2)
    assert timeline.loaded == 2
    for kind in KINDS:
        expected = ZScaleInterval().get_limits(all_pixels(stored[:2], kind))
        assert timeline.cuts[kind] == pytest.approx(expected, rel=1e-12)
    timeline.load_all()
    renderings = timeline.frames.renderings
    x = np.linspace(0, 1, CURVE_SAMPLES)
    for kind in KINDS:
        expected = ZScaleInterval().get_limits(all_pixels(stored, kind))
        assert timeline.cuts[kind] == pytest.approx(expected, rel=1e-12)
        assert renderings[kind]["cuts"] == pytest.approx(expected, rel=1e-12)
        curve = np.frombuffer(renderings[kind]["curve"], dtype="<f4")
        np.testing.assert_allclose(curve, LinearStretch()(x), atol=1e-6)
        assert renderings[kind]["colormap"] == "gray"


def test_an_astropy_interval_stretch_and_colormaps_reach_the_browser(client, stored):
    timeline = CutoutTimeline(
        DEMO_OBJECT_ID,
        client=client,
        stretch=LogStretch(),
        interval=PercentileInterval(99.0),
        colormap={"Science": "viridis", "Template": "viridis", "Difference": "RdBu_r"},
    )
    x = np.linspace(0, 1, CURVE_SAMPLES)
    for kind in KINDS:
        rendering = timeline.frames.renderings[kind]
        expected = PercentileInterval(99.0).get_limits(all_pixels(stored, kind))
        assert rendering["cuts"] == pytest.approx(expected, rel=1e-12)
        curve = np.frombuffer(rendering["curve"], dtype="<f4")
        np.testing.assert_allclose(curve, LogStretch()(x), atol=1e-6)
    assert timeline.frames.renderings["Difference"]["colormap"] == "RdBu_r"
    for name in ("viridis", "RdBu_r"):
        table = matplotlib.colormaps[name](np.linspace(0, 1, 256), bytes=True)[:, :3]
        assert timeline.frames.colormaps[name] == table.tobytes()


def test_pages_are_fetched_as_the_frame_nears_their_end_never_an_alert_at_a_time(client):
    counted = CountingClient(client)
    timeline = CutoutTimeline(DEMO_OBJECT_ID, client=counted, page_size=2)
    ids = timeline.alert_ids
    assert counted.batches == [ids[:2]], "the first page only"
    timeline.frame = 0
    assert len(counted.batches) == 1
    timeline.frame = 1  # the last frame loaded: the next page
    assert counted.batches == [ids[:2], ids[2:4]]
    timeline.frame = 2
    assert len(counted.batches) == 2
    timeline.frame = 3
    assert counted.batches == [ids[:2], ids[2:4], ids[4:]]
    timeline.frame = 4
    timeline.frame = 0
    timeline.load_all()
    assert len(counted.batches) == 3, "each page once"

    jumping = CountingClient(client)
    far = CutoutTimeline(DEMO_OBJECT_ID, client=jumping, page_size=2)
    far.frames.frame = 4  # as the browser's slider sets it
    assert jumping.batches == [ids[:2], ids[2:4], ids[4:]]
    assert (far.frame, far.loaded) == (4, 5)

    whole = CountingClient(client)
    CutoutTimeline(DEMO_OBJECT_ID, client=whole)
    assert whole.batches == [ids], "five alerts: one request"


def test_the_ring_follows_the_frame_and_a_click_shows_its_frame(client):
    timeline = CutoutTimeline(DEMO_OBJECT_ID, client=client)
    ids = [str(i) for i in timeline.alert_ids]
    assert timeline.light_curve.shown == timeline.frames.shown == ids[0]
    assert {p["alertId"] for p in timeline.light_curve.points} == set(ids)
    timeline.frame = 3
    assert timeline.frames.frame == 3
    assert timeline.light_curve.shown == timeline.frames.shown == ids[3]
    timeline.light_curve.clicked = ids[1]  # the browser's click on a detection
    assert timeline.frame == timeline.frames.frame == 1
    assert timeline.light_curve.shown == ids[1]
    timeline.light_curve.clicked = "12345"  # no frame of this object
    assert timeline.frame == 1


def test_the_frame_and_the_kind_shown_are_checked(client):
    timeline = CutoutTimeline(DEMO_OBJECT_ID, client=client, kinds=("Science", "Difference"))
    with pytest.raises(traitlets.TraitError, match=r"frame: 5 is not in 0\.\.4"):
        timeline.frame = 5
    with pytest.raises(traitlets.TraitError, match="kind: 'Template'; allowed: All, Science"):
        timeline.frames.kind = "Template"
    timeline.frames.kind = "Difference"
    assert list(timeline.frames.renderings) == ["Science", "Difference"]
    with pytest.raises(ValueError, match="give object_id or ss_object_id"):
        CutoutTimeline(client=client)
    with pytest.raises(ValueError, match="fps: 0"):
        CutoutTimeline(DEMO_OBJECT_ID, client=client, fps=0)


@pytest.mark.parametrize("format", ["gif", "apng"])
def test_animations_hold_every_frame_as_astropy_draws_it(client, stored, tmp_path, format):
    timeline = CutoutTimeline(DEMO_OBJECT_ID, client=client, page_size=2, fps=5)
    assert timeline.loaded == 2
    path = tmp_path / f"flip.{'gif' if format == 'gif' else 'png'}"
    save = timeline.save_gif if format == "gif" else timeline.save_apng
    assert save(path) == path
    assert timeline.loaded == 5, "every page fetched first"
    assert (timeline.progress.value, timeline.progress.max) == (5, 5)
    assert timeline.progress.layout.display == "none"
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "no temporary left"
    with Image.open(path) as picture:
        assert picture.n_frames == len(stored)
        for number in range(len(stored)):
            picture.seek(number)
            assert picture.info["duration"] == pytest.approx(200, abs=1)
            drawn = np.asarray(picture.convert("RGB")).astype(int)
            left = 0
            for kind in KINDS:
                level = astropy_levels(stored, number, kind, ZScaleInterval(), LinearStretch())
                grey = np.floor(level * 255 + 0.5)  # matplotlib's gray: level i is (i, i, i)
                part = drawn[:, left : left + 63]
                assert np.abs(part - grey[..., None]).max() <= 1, f"{kind} of frame {number}"
                left += 63 + 2
            assert (drawn[:, 63:65] == 255).all(), "a white gap between kinds"


def test_the_fits_cube_holds_the_stamps_and_the_alerts(client, stored, tmp_path):
    timeline = CutoutTimeline(DEMO_OBJECT_ID, client=client, page_size=2)
    path = timeline.save_fits(tmp_path / "flip.fits")
    with fits.open(path) as hdus:
        assert hdus[0].header["OBJECT"] == DEMO_OBJECT_ID
        for kind in KINDS:
            cube = hdus[kind.upper()].data
            assert cube.shape == (5, 63, 63)
            for number, alert in enumerate(stored):
                np.testing.assert_array_equal(cube[number], alert["stamps"][kind])
        table = hdus["FRAMES"].data
        assert list(table["alertId"]) == [alert["candid"] for alert in stored]
        np.testing.assert_allclose(table["jd"], [alert["jd"] for alert in stored], atol=1e-9)


def test_a_saved_notebook_shows_the_frame_as_a_picture(client, stored):
    timeline = CutoutTimeline(DEMO_OBJECT_ID, client=client)
    timeline.frame = 2
    bundle = timeline._repr_mimebundle_()
    with Image.open(io.BytesIO(base64.b64decode(bundle["image/png"]))) as picture:
        drawn = np.asarray(picture.convert("RGB")).astype(int)
    assert drawn.shape == (3 * 63, 3 * (3 * 63 + 4), 3)
    level = astropy_levels(stored, 2, "Science", ZScaleInterval(), LinearStretch())
    grey = np.floor(level * 255 + 0.5)
    assert np.abs(drawn[::3, : 3 * 63 : 3] - grey[..., None]).max() <= 1


def test_an_unknown_object_is_said_in_the_widget(client):
    timeline = CutoutTimeline("ZTF00aaaaaaa", client=client)
    assert "ZTF00aaaaaaa" in timeline.message.value
    assert "fink-error" in timeline.message.value
    assert (timeline.alert_ids, timeline.loaded) == ([], 0)
    assert "image/png" not in timeline._repr_mimebundle_()


def test_a_solar_system_objects_frames(rubin_demo):
    ss_object_id = rubin_demo.ss_object_ids[0]
    stored = []  # its detections as pyarrow and astropy read the Rubin lake
    for path in lake_files(rubin_demo.root):
        table = pq.read_table(path, columns=["diaSourceId", "diaSource", "cutoutScience"])
        for row in table.to_pylist():
            if row["diaSource"]["ssObjectId"] == ss_object_id:
                stored.append((row["diaSource"]["midpointMjdTai"], row))
    stored = [row for _, row in sorted(stored, key=lambda pair: pair[0])]
    assert len(stored) > 1
    client = CutoutClient(lake=str(rubin_demo.root))
    timeline = CutoutTimeline(ss_object_id=ss_object_id, client=client)
    assert timeline.alert_ids == [row["diaSourceId"] for row in stored]
    frames = timeline.load_all()
    for number, row in enumerate(stored):
        np.testing.assert_array_equal(
            frames.stamps[number, 0], astropy_pixels(row["cutoutScience"]), err_msg=str(number)
        )


def test_over_http_the_same_frames_a_page_per_request(served_demo, stored):
    counted = CountingClient(CutoutClient(url=served_demo))
    timeline = CutoutTimeline(DEMO_OBJECT_ID, client=counted, page_size=3)
    assert timeline.loaded == 3
    frames = timeline.load_all()
    assert counted.batches == [timeline.alert_ids[:3], timeline.alert_ids[3:]]
    assert frames.alert_ids == [alert["candid"] for alert in stored]
    for number, alert in enumerate(stored):
        for position, kind in enumerate(KINDS):
            np.testing.assert_array_equal(frames.stamps[number, position], alert["stamps"][kind])


def test_an_alert_indexed_while_the_timeline_opens_is_a_frame_too(tmp_path):
    """The timeline lists the object's alerts, then its pages list them again: tonight's alert,
    indexed in between (the demo lake grown by a night, for real, right after the first list),
    is a frame too, and the labels and slider know it."""
    root = tmp_path / "lake"
    make_demo_lake(root)

    class GrowingLake(CountingClient):
        listed = 0

        def alerts(self, *args, **kwargs):
            answer = self.client.alerts(*args, **kwargs)
            self.listed += 1
            if self.listed == 1:
                make_demo_lake(root, nights=4)  # a fourth night and its index
            return answer

    in_process = CutoutClient(lake=str(root))
    # The index re-reads its layout every refresh_seconds (5 s): at once here, so the night
    # added in between is seen however long writing it took (the test passed only when >5 s).
    in_process.transport.api.index.refresh_seconds = 0
    client = GrowingLake(in_process)
    timeline = CutoutTimeline(DEMO_OBJECT_ID, client=client)
    stored = object_alerts(root, DEMO_OBJECT_ID)
    assert len(stored) == 6
    assert timeline.alert_ids == [alert["candid"] for alert in stored]
    assert [a["alertId"] for a in timeline.frames.alerts] == [str(a["candid"]) for a in stored]
    assert (timeline.play.max, timeline.slider.max, timeline.loaded) == (5, 5, 6)
    assert str(stored[-1]["candid"]) in {p["alertId"] for p in timeline.light_curve.points}
    assert timeline.message.value == ""
    frames = timeline.load_all()
    np.testing.assert_array_equal(frames.stamps[5, 0], stored[5]["stamps"]["Science"])
