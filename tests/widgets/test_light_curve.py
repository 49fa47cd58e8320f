"""LightCurve: an object's history (/api/v1/history) as the widget draws it: detections,
forced photometry and upper limits from the real Rubin and ZTF alerts (bodies built here from
fastavro's and pyarrow's reading of the files, times by astropy); the browser draws with the
survey's data (colours, markers, time origins) sent from Python, and hard-codes none of it; the
static fallback draws the same (zero line, hollow forced points, limits)."""

import asyncio
import contextlib
import math
import re
import threading
from pathlib import Path

import matplotlib.colors
import numpy as np
import pyarrow.parquet as pq
import pytest
from aiohttp import web
from astropy.time import Time

from fink_cutout_jupyter.client import CutoutClient, CutoutClientError
from fink_cutout_jupyter.contract.replies import no_route_reply
from fink_cutout_jupyter.doors.connections import reply_response
from fink_cutout_jupyter.doors.settings import DoorSettings
from fink_cutout_jupyter.doors.standalone import create_app
from fink_cutout_jupyter.surveys import LSST, SURVEYS, ZTF
from fink_cutout_jupyter.widgets.assets import STATIC
from fink_cutout_jupyter.widgets.light_curve import (
    LightCurve,
    alerts_history,
    filter_styles,
    history_points,
    light_curve_rgb,
)
from fink_cutout_jupyter.widgets.viewer import CutoutViewer

RUBIN_OBJECT = 170028485706776685
ZTF_BANDS = {1: "g", 2: "r", 3: "i"}  # ZTF's fid


def _json_number(value):
    """A number as the history's JSON carries it: NaN is null."""
    return float(value) if value is not None and math.isfinite(value) else None


def _iso(mjds, scale: str) -> list[str]:
    return [f"{t}Z" for t in Time(mjds, format="mjd", scale=scale).utc.isot]


def rubin_body(record: dict) -> dict:
    """The history body of a Rubin alert's object as DESIGN24 states it, built from the record
    as fastavro reads it: its own diaSource and prvDiaSources (detections, psfFlux), its
    prvDiaForcedSources (forced), only the alert itself indexed (its object's only alert)."""
    sources = {s["diaSourceId"]: s for s in record["prvDiaSources"] or []}
    sources[record["diaSourceId"]] = record["diaSource"]
    points = [
        {
            "kind": "detection",
            "mjd": source["midpointMjdTai"],
            "band": source["band"],
            "value": _json_number(source["psfFlux"]),
            "error": _json_number(source["psfFluxErr"]),
            "alertId": str(identifier),
            "indexed": identifier == record["diaSourceId"],
        }
        for identifier, source in sources.items()
    ] + [
        {
            "kind": "forced",
            "mjd": source["midpointMjdTai"],
            "band": source["band"],
            "value": _json_number(source["psfFlux"]),
            "error": _json_number(source["psfFluxErr"]),
            "alertId": None,
            "indexed": False,
        }
        for source in record["prvDiaForcedSources"] or []
    ]
    points.sort(key=lambda p: (p["mjd"], p["alertId"] or ""))
    for point, time in zip(points, _iso([p["mjd"] for p in points], "tai"), strict=True):
        point["time"] = time
    return {
        "survey": "lsst",
        "objectId": str(record["diaObject"]["diaObjectId"]),
        "unit": "nJy",
        "latestAlertId": str(record["diaSourceId"]),
        "points": points,
    }


def ztf_body(row: dict) -> dict:
    """The history body of a ZTF alert's object, built from pyarrow's reading of its row: its
    candidate and prv_candidates with a candid (detections, magpsf), those without (upper
    limits, diffmaglim)."""
    table = pq.read_table(row["lake"].resolve(row["path"]), columns=["candid", "prv_candidates"])
    (history,) = [r["prv_candidates"] for r in table.to_pylist() if r["candid"] == row["candid"]]
    entries = [e for e in history or [] if e["candid"] != row["candid"]]
    own = {**row["candidate"], "jd": row["jd"], "candid": row["candid"], "diffmaglim": None}
    entries.append(own)
    points = []
    for entry in entries:
        limit = entry["candid"] is None
        if limit and _json_number(entry["diffmaglim"]) is None:
            continue  # a limit without a depth is left out
        points.append(
            {
                "kind": "upper_limit" if limit else "detection",
                "mjd": entry["jd"] - 2400000.5,
                "band": ZTF_BANDS[entry["fid"]],
                "value": _json_number(entry["diffmaglim" if limit else "magpsf"]),
                "error": None if limit else _json_number(entry["sigmapsf"]),
                "alertId": None if limit else str(entry["candid"]),
                "indexed": entry["candid"] == row["candid"],
            }
        )
    points.sort(key=lambda p: p["mjd"])
    for point, time in zip(points, _iso([p["mjd"] for p in points], "utc"), strict=True):
        point["time"] = time
    return {"survey": "ztf", "objectId": row["objectId"], "unit": "mag", "points": points}


@pytest.fixture(scope="module")
def rubin_histories(rubin_records) -> list[tuple[dict, dict]]:
    """(record, body) of each real Rubin alert that carries a history."""
    return [(r, rubin_body(r)) for r in rubin_records if r["prvDiaForcedSources"]]


@pytest.fixture(scope="module")
def rubin_client(rubin_lake):
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    build(AlertIndex(rubin_lake), rubin_lake.nights(), progress=False)
    return CutoutClient(lake=rubin_lake.uri)


def test_the_browser_is_sent_each_filters_style_as_the_survey_defines_it(rubin_client):
    viewer = CutoutViewer(RUBIN_OBJECT, client=rubin_client)
    assert viewer.message.value == ""
    assert viewer.survey is LSST
    sent = viewer.light_curve.get_state()["styles"]  # what the widget's comm carries
    assert sent == {
        band: {"colour": style.colour, "marker": style.marker}
        for band, style in LSST.filter_styles.items()
    }
    assert set(sent) == set("ugrizy")
    assert {p["filter"] for p in viewer.light_curve.points} <= set(sent)
    assert viewer.light_curve.unit == "nJy"
    assert f'href="https://lsst.fink-portal.org/{RUBIN_OBJECT}"' in viewer.links.value


def test_the_time_origins_sent_are_astropys():
    origins = LightCurve().get_state()["time_origins"]
    assert origins["jd_of_mjd_zero"] == Time(0.0, format="mjd").jd
    assert origins["jd_of_unix_epoch"] == Time(0.0, format="unix").jd


@pytest.mark.parametrize("survey", SURVEYS.values(), ids=SURVEYS)
def test_every_filter_of_a_survey_has_a_style(survey):
    styles = filter_styles(survey)
    assert set(dict(survey.filter_names).values()) <= set(styles)
    for style in styles.values():
        assert matplotlib.colors.is_color_like(style["colour"])
        assert re.fullmatch(r"#[0-9a-f]{6}", style["colour"]), "a colour CSS reads too"


def test_no_survey_fact_is_written_in_the_browser_code():
    """The colours, markers by filter, time origins and portal live in Python (surveys.py,
    locations.py) and reach the browser as traits: none is copied into static/."""
    colours = {s.colour for survey in SURVEYS.values() for s in survey.filter_styles.values()}
    for script in sorted(STATIC.glob("*.js")):
        text = script.read_text().lower()
        for colour in colours:
            assert colour.lower() not in text, f"{script.name} has the filter colour {colour}"
        for number in ("2400000", "2440587", "40587"):
            assert number not in text, f"{script.name} has the time origin {number}"
        assert "fink-portal" not in text, f"{script.name} has the portal's address"
        filter_keyed = re.search(r"\{\s*[ugrizy]\s*:", text)
        assert filter_keyed is None, f"{script.name} has a table by filter: {filter_keyed[0]!r}"


def pixels_of(image: np.ndarray, colour: str) -> int:
    """How many pixels of `image` have `colour` (to within antialiasing's rounding)."""
    rgb = np.array(matplotlib.colors.to_rgb(colour)) * 255
    return int((np.abs(image.astype(int) - rgb).max(axis=-1) <= 2).sum())


@pytest.mark.parametrize(("survey", "band"), [(ZTF, "g"), (ZTF, "r"), (LSST, "u"), (LSST, "y")])
def test_the_static_fallback_draws_each_filter_in_its_surveys_colour(survey, band):
    point = {"alertId": "1", "jd": 2460000.5, "filter": band, "magnitude": 18.0, "error": 0.1}
    image = light_curve_rgb([point], [], "mag", 400, filter_styles(survey))
    assert pixels_of(image, survey.filter_styles[band].colour) >= 4
    own = survey.filter_styles[band].colour
    others = {style.colour for style in survey.filter_styles.values()} - {own}
    hues = {colour for colour in others if len(set(matplotlib.colors.to_rgb(colour))) > 1}
    assert all(pixels_of(image, colour) == 0 for colour in hues), "(greys are the axes' too)"


def test_the_light_curve_includes_tonights_detection_once_a_follower_cycle_indexed_it(
    demo, tmp_path
):
    """A micro-batch of tonight's live night, one follower cycle: the object's light curve ends
    with the new detection, at the time and magnitude pyarrow reads from the part file."""
    import datetime as dt
    import shutil

    import pyarrow.parquet as pq

    from fink_cutout_jupyter.demo.live import stream_demo_batch
    from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID
    from fink_cutout_jupyter.index.follow import Follower
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    root = tmp_path / "lake"
    shutil.copytree(demo.root, root)
    batch = stream_demo_batch(root, demo.nights[-1] + dt.timedelta(days=1))
    before = CutoutViewer(DEMO_OBJECT_ID, client=CutoutClient(lake=str(root))).light_curve.points
    assert Follower(AlertIndex(Lake(root))).cycle().indexed
    row = next(
        r for r in pq.read_table(root / batch.path).to_pylist() if r["objectId"] == DEMO_OBJECT_ID
    )

    points = CutoutViewer(DEMO_OBJECT_ID, client=CutoutClient(lake=str(root))).light_curve.points
    assert len(points) == len(before) + 1 == 6
    new = next(p for p in points if p["alertId"] == str(row["candid"]))
    assert new["jd"] == row["candidate"]["jd"]
    assert new["magnitude"] == pytest.approx(row["candidate"]["magpsf"], rel=1e-6)
    assert new["filter"] == dict(ZTF.filter_names)[row["candidate"]["fid"]]
    assert new["jd"] == max(p["jd"] for p in points), "tonight's is the latest"


def test_a_rubin_history_is_drawn_as_its_detections_and_forced_fluxes(rubin_histories):
    assert len(rubin_histories) == 5
    for record, body in rubin_histories:
        points, limits = history_points(body)
        assert limits == []
        detections = [p for p in points if p["kind"] == "detection"]
        forced = [p for p in points if p["kind"] == "forced"]
        sources = {s["diaSourceId"]: s for s in record["prvDiaSources"]}
        sources[record["diaSourceId"]] = record["diaSource"]
        drawn = {i: s for i, s in sources.items() if math.isfinite(s["psfFlux"] or math.nan)}
        assert {p["alertId"] for p in detections} == {str(i) for i in drawn}
        assert len(detections) == len(drawn)
        for point in detections:
            source = drawn[int(point["alertId"])]
            assert point["filter"] == source["band"]
            assert point["magnitude"] == pytest.approx(source["psfFlux"], rel=1e-6)
            assert point["error"] == pytest.approx(source["psfFluxErr"], rel=1e-6)
            assert point["jd"] == pytest.approx(Time(source["midpointMjdTai"], format="mjd").jd)
            assert point["indexed"] == (int(point["alertId"]) == record["diaSourceId"])
        expected = sorted(
            (s["midpointMjdTai"], s["band"], s["psfFlux"], s["psfFluxErr"])
            for s in record["prvDiaForcedSources"]
            if math.isfinite(s["psfFlux"] or math.nan)
        )
        got = sorted((p["jd"] - 2400000.5, p["filter"], p["magnitude"], p["error"]) for p in forced)
        assert len(got) == len(expected) > 300
        for (mjd, band, flux, error), (*numbers, stored_band) in zip(
            got, [(m, f, e, b) for m, b, f, e in expected], strict=True
        ):
            assert band == stored_band
            assert (mjd, flux, error) == pytest.approx(tuple(numbers), rel=1e-9, abs=1e-8)
        assert all(p["alertId"] == "" and p["indexed"] is False for p in forced)
        assert {p["filter"] for p in points} <= set(LSST.filter_styles)
        jds = [p["jd"] for p in points]
        assert jds == sorted(jds), "oldest first, as the body"


def test_the_time_shown_is_the_bodys_utc_not_the_tai_of_the_mjd(rubin_histories):
    record, body = rubin_histories[0]
    points, _ = history_points(body)
    latest = next(p for p in points if p["alertId"] == str(record["diaSourceId"]))
    utc = Time(record["diaSource"]["midpointMjdTai"], format="mjd", scale="tai").utc
    assert latest["time"] == f"{utc.isot}Z"
    assert latest["time"] != f"{Time(latest['jd'], format='jd').isot}Z", "37 s of leap seconds"


def test_a_ztf_history_is_drawn_as_magnitudes_with_its_upper_limits(ztf_rows):
    with_limits = 0
    for row in ztf_rows:
        body = ztf_body(row)
        points, limits = history_points(body)
        table = pq.read_table(
            row["lake"].resolve(row["path"]), columns=["candid", "prv_candidates"]
        )
        (history,) = [
            r["prv_candidates"] for r in table.to_pylist() if r["candid"] == row["candid"]
        ]
        stored_limits = [
            e for e in history or [] if e["candid"] is None and e["diffmaglim"] is not None
        ]
        assert sorted((round(x["jd"], 6), x["filter"], x["limit"]) for x in limits) == sorted(
            (round(e["jd"], 6), ZTF_BANDS[e["fid"]], pytest.approx(e["diffmaglim"]))
            for e in stored_limits
        )
        with_limits += bool(limits)
        own = next(p for p in points if p["alertId"] == str(row["candid"]))
        assert own["jd"] == pytest.approx(row["jd"], abs=1e-8)
        assert own["magnitude"] == pytest.approx(row["candidate"]["magpsf"])
        assert own["filter"] == ZTF_BANDS[row["candidate"]["fid"]]
        assert own["indexed"] is True
        others = {str(e["candid"]) for e in history or [] if e["candid"] is not None}
        assert {p["alertId"] for p in points} == others | {str(row["candid"])}
        assert all(p["kind"] == "detection" for p in points)
    assert with_limits > 50, "most real ZTF alerts carry upper limits"


def test_points_without_a_finite_time_or_value_are_left_out(rubin_histories):
    _, body = rubin_histories[0]
    changed = [dict(p) for p in body["points"]]
    first_detection = next(i for i, p in enumerate(changed) if p["kind"] == "detection")
    first_forced = next(i for i, p in enumerate(changed) if p["kind"] == "forced")
    changed[first_detection]["value"] = None  # NaN flux: JSON null
    changed[first_forced]["mjd"] = None
    changed.append({**changed[-1], "kind": "upper_limit", "value": None, "error": None})
    before, _ = history_points(body)
    points, limits = history_points({**body, "points": changed})
    assert len(points) == len(before) - 2
    assert limits == []
    assert body["points"][first_detection]["alertId"] not in {p["alertId"] for p in points}


def test_show_history_sets_the_unit_and_points_and_says_what_is_missing(rubin_histories):
    _, body = rubin_histories[0]
    curve = LightCurve()
    curve.show_history(body)
    assert curve.unit == "nJy"
    assert (curve.points, curve.limits) == history_points(body)
    assert curve.note == ""
    curve.show_history({**body, "historyRead": False})
    assert "could not be read" in curve.note


def test_alerts_history_is_the_index_detections_when_a_server_has_no_history(
    rubin_client, rubin_records
):
    alerts = rubin_client.alerts(RUBIN_OBJECT)
    (record,) = [
        r for r in rubin_records if (r["diaObject"] or {}).get("diaObjectId") == RUBIN_OBJECT
    ]
    body = alerts_history(alerts)
    assert body["unit"] == "nJy"
    (point,) = history_points(body)[0]
    assert point["alertId"] == str(record["diaSourceId"])
    assert point["magnitude"] == pytest.approx(record["diaSource"]["psfFlux"])
    assert point["indexed"] is True


def grey_rows(image: np.ndarray, level: float) -> int:
    """The most pixels of one row that have the grey `level` (a horizontal line's length)."""
    grey = round(level * 255)
    return int((np.abs(image.astype(int) - grey).max(axis=-1) <= 3).sum(axis=1).max())


def test_the_static_fallback_draws_a_fluxs_zero_line_and_not_a_magnitudes():
    points = [
        {
            "kind": "detection",
            "alertId": "1",
            "jd": 2461000.5,
            "filter": "g",
            "magnitude": 900.0,
            "error": 50.0,
        },
        {
            "kind": "forced",
            "alertId": "",
            "jd": 2461010.5,
            "filter": "g",
            "magnitude": -700.0,
            "error": 60.0,
        },
    ]
    flux = light_curve_rgb(points, [], "nJy", 400, filter_styles(LSST))
    magnitude = light_curve_rgb(points, [], "mag", 400, filter_styles(LSST))
    assert grey_rows(flux, 0.55) > 100, "a dashed line across the axes"
    assert grey_rows(magnitude, 0.55) < 20


@pytest.mark.parametrize("band", ["u", "y"])
def test_the_static_fallback_draws_forced_photometry_hollow(band):
    colour = LSST.filter_styles[band].colour
    middle = {}
    for kind in ("detection", "forced"):
        point = {
            "kind": kind,
            "alertId": "",
            "jd": 2461000.5,
            "filter": band,
            "magnitude": 500.0,
            "error": 0.0,
        }
        image = light_curve_rgb([point], [], "nJy", 400, filter_styles(LSST))
        rgb = np.array(matplotlib.colors.to_rgb(colour)) * 255
        near = np.abs(image.astype(int) - rgb).max(axis=-1) <= 60
        near[110:] = near[:, :150] = near[:, 250:] = False  # the point (not legend, labels)
        rows, columns = np.nonzero(near)
        assert len(rows) >= 6, f"the {kind} point is drawn in its band's colour"
        centre = image[round(rows.mean()), round(columns.mean())]
        middle[kind] = int(np.abs(centre.astype(int) - rgb).max())
    assert middle["detection"] <= 60, "filled"
    assert middle["forced"] > 150, "hollow: the background shows in its middle"


def test_the_static_fallback_draws_every_band_of_a_rubin_history(rubin_histories):
    _, body = rubin_histories[2]
    points, _ = history_points(body)
    image = light_curve_rgb(points, [], "nJy", 600, filter_styles(LSST))
    for band in {p["filter"] for p in points}:
        assert pixels_of(image, LSST.filter_styles[band].colour) >= 4, band
    assert grey_rows(image, 0.55) > 100


def test_a_point_clicked_before_opens_again_after_another_alert_was_shown(demo_lake_case):
    """The browser sets `clicked`: a second click on the same point must still open it."""
    case = demo_lake_case
    viewer = CutoutViewer(case.object_id, client=CutoutClient(lake=case.lake))
    first, second = case.alert_ids[:2]
    viewer.light_curve.clicked = str(first)
    assert viewer.alert == first
    viewer.show_alert(second)
    assert viewer.alert == second
    viewer.light_curve.clicked = str(first)  # the same point clicked again
    assert viewer.alert == first


def test_the_viewer_draws_a_rubin_objects_whole_history(rubin_client, rubin_records):
    """Through the real client on the real alerts: every detection of prvDiaSources and every
    forced point of prvDiaForcedSources, in nJy, the shown alert (the object's only indexed
    one) ringed and openable, the others not."""
    (record,) = [
        r for r in rubin_records if (r["diaObject"] or {}).get("diaObjectId") == RUBIN_OBJECT
    ]
    viewer = CutoutViewer(RUBIN_OBJECT, client=rubin_client)
    curve = viewer.light_curve
    expected, _ = history_points(rubin_body(record))
    assert curve.unit == "nJy"
    assert curve.note == ""
    assert curve.limits == []
    assert len(curve.points) == len(expected) == 345 + 1 + 395
    key = lambda p: (p["kind"], p["alertId"], round(p["jd"], 7), p["filter"])  # noqa: E731
    for got, want in zip(sorted(curve.points, key=key), sorted(expected, key=key), strict=True):
        assert {k: got[k] for k in ("kind", "alertId", "filter", "indexed", "time")} == {
            k: want[k] for k in ("kind", "alertId", "filter", "indexed", "time")
        }
        assert (got["jd"], got["magnitude"], got["error"]) == pytest.approx(
            (want["jd"], want["magnitude"], want["error"]), rel=1e-9
        )
    assert curve.shown == str(record["diaSourceId"])
    (openable,) = [p for p in curve.points if p["indexed"]]
    assert openable["alertId"] == curve.shown


@contextlib.contextmanager
def serving(app: web.Application):
    """A real aiohttp server of `app` in a thread of its own (the client below is blocking)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def call(coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(60)

    runner = web.AppRunner(app, access_log=None)
    call(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    call(site.start())
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"
    finally:
        call(runner.cleanup())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def older_server(settings: DoorSettings) -> web.Application:
    """The standalone door as it was before /api/v1/history: that route unknown (404)."""

    @web.middleware
    async def without_history(request, handler):
        if request.path.endswith("/api/v1/history"):
            return reply_response(no_route_reply("history"))
        return await handler(request)

    app = create_app(settings)
    app.middlewares.append(without_history)
    return app


def test_an_older_server_without_history_gives_the_alerts_and_upper_limits(real_lake_case):
    """The object's alerts as the lake holds them, its latest alert's upper limits as pyarrow
    reads its prv_candidates, and a note saying the history is missing."""
    import pyarrow.compute as pc

    case, object_id = real_lake_case, "ZTF18abwvktq"  # 3 alerts, the latest with limits
    rows = []
    for file in sorted((Path(case.lake) / case.science_dir).rglob("*.parquet")):
        table = pq.read_table(file, columns=["objectId", "candid", "candidate", "prv_candidates"])
        rows += table.filter(pc.equal(table.column("objectId"), object_id)).to_pylist()
    rows.sort(key=lambda r: r["candidate"]["jd"])
    stored_limits = [
        e
        for e in rows[-1]["prv_candidates"] or []
        if e["candid"] is None and math.isfinite(e["diffmaglim"] or math.nan)
    ]
    assert len(rows) == 3
    assert stored_limits, "the object's latest alert has upper limits"
    settings = DoorSettings(case.lake, index=case.index, science_dir=case.science_dir)
    with serving(older_server(settings)) as url:
        client = CutoutClient(url)
        with pytest.raises(CutoutClientError) as refused:
            client.history(object_id)
        assert refused.value.status == 404
        curve = CutoutViewer(object_id, client=client).light_curve
    assert [p["alertId"] for p in curve.points] == [str(r["candid"]) for r in rows]
    assert [p["magnitude"] for p in curve.points] == pytest.approx(
        [r["candidate"]["magpsf"] for r in rows]
    )
    got = sorted((x["jd"], x["limit"]) for x in curve.limits)
    expected = sorted((e["jd"], e["diffmaglim"]) for e in stored_limits)
    assert [t for pair in got for t in pair] == pytest.approx([t for p in expected for t in p])
    assert sorted(x["filter"] for x in curve.limits) == sorted(
        ZTF_BANDS[e["fid"]] for e in stored_limits
    )
    assert curve.unit == "mag"
    assert "no /api/v1/history" in curve.note


def test_a_404_of_a_missing_file_is_not_taken_for_an_older_server(rubin_lake, tmp_path):
    """The latest alert's file deleted from a copy of the real Rubin lake: /history answers the
    index's detections (``historyRead`` false), no route-missing 404, so no note of an older
    server, no /limits asked; the curve keeps the index's detection of the alert and says what
    it lacks."""
    import shutil

    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake
    from fink_cutout_jupyter.widgets.light_curve import client_history

    shutil.copytree(Path(rubin_lake.uri) / "science", tmp_path / "science")
    lake = Lake(tmp_path)
    build(AlertIndex(lake), lake.nights(), progress=False)
    with serving(create_app(DoorSettings(str(tmp_path)))) as url:
        client = CutoutClient(url)
        (alert,) = client.alerts(RUBIN_OBJECT)
        (tmp_path / alert["hdfsPath"]).unlink()
        history = client_history(client, [alert], RUBIN_OBJECT)
    stored = pq.read_table(
        Path(rubin_lake.uri) / alert["hdfsPath"], columns=["diaSourceId", "diaSource"]
    ).to_pylist()[0]
    assert "no /api/v1/history" not in history.get("note", "")
    assert history.get("historyRead") is False  # the server's answer: the index's detections
    curve = LightCurve()
    curve.show_history(history)
    assert curve.note, "the curve says what it lacks"
    assert "no /api/v1/history" not in curve.note
    (point,) = [p for p in curve.points if p["alertId"] == str(stored["diaSourceId"])]
    assert point["magnitude"] == pytest.approx(stored["diaSource"]["psfFlux"])
    assert point["indexed"] is True


def test_a_404_of_an_unknown_object_is_not_taken_for_an_older_server(real_lake_case):
    from fink_cutout_jupyter.widgets.light_curve import client_history

    settings = DoorSettings(
        real_lake_case.lake, index=real_lake_case.index, science_dir=real_lake_case.science_dir
    )
    with serving(create_app(settings)) as url:
        client = CutoutClient(url)
        with pytest.raises(CutoutClientError) as refused:
            client.history("ZTF99aaaaaaa")
        history = client_history(client, [], "ZTF99aaaaaaa")
    assert refused.value.status == 404
    assert history["note"] == f"no history ({refused.value.text})"
    assert history["points"] == []


def test_alerts_without_a_finite_time_are_left_out_of_the_alerts_history(tmp_path):
    """ZTF19aaapmmu's two real alerts, one written with a NaN jd (/alerts: jd null): the curve
    an older server gives is the other one, as pyarrow reads it."""
    import pyarrow.compute as pc
    from support.nonfinite import write_nonfinite_lake

    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake
    from fink_cutout_jupyter.widgets.light_curve import client_history

    file = write_nonfinite_lake(tmp_path)
    lake = Lake(tmp_path)
    build(AlertIndex(lake), lake.nights(), progress=False)
    table = pq.read_table(file, columns=["objectId", "candid", "candidate"])
    rows = table.filter(pc.equal(table.column("objectId"), "ZTF19aaapmmu")).to_pylist()
    timed = [r for r in rows if math.isfinite(r["candidate"]["jd"])]
    assert (len(rows), len(timed)) == (2, 1)
    with serving(older_server(DoorSettings(str(tmp_path)))) as url:
        client = CutoutClient(url)
        alerts = client.alerts("ZTF19aaapmmu")
        history = client_history(client, alerts, "ZTF19aaapmmu")
    assert [a["jd"] for a in alerts][-1] is None
    points, _ = history_points(history)
    assert [p["alertId"] for p in points] == [str(timed[0]["candid"])]
    assert points[0]["jd"] == pytest.approx(timed[0]["candidate"]["jd"], rel=1e-12)
    assert points[0]["magnitude"] == pytest.approx(timed[0]["candidate"]["magpsf"])
    assert "no /api/v1/history" in history["note"]


@pytest.mark.parametrize("ss_object_id", [21163624394469969, 21165806389311562])
def test_a_solar_system_objects_curve_is_its_alerts_history(
    rubin_client, rubin_records, ss_object_id
):
    """A solar-system object (no diaObject, no prvDiaSources): its one alert, ringed."""
    (record,) = [
        r for r in rubin_records if (r["ssSource"] or {}).get("ssObjectId") == ss_object_id
    ]
    curve = CutoutViewer(ss_object_id=ss_object_id, client=rubin_client).light_curve
    (point,) = curve.points
    assert point["alertId"] == curve.shown == str(record["diaSourceId"])
    assert point["magnitude"] == pytest.approx(record["diaSource"]["psfFlux"])
    assert point["filter"] == record["diaSource"]["band"]
    assert point["indexed"] is True
    assert (curve.unit, curve.limits, curve.note) == ("nJy", [], "")
