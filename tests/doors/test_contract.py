"""The /api/v1 contract, run against both doors: each test once per door, the door in its id.

``door`` is an async ``fetch(path, method="GET", params=None, body=None, headers=None) ->
Response``: the Jupyter server extension through pytest-jupyter (``jupyter``), or the standalone
aiohttp app through a real ``TestServer`` (``standalone``), on the lake of ``lake_case``.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from openapi_spec_validator import validate
from PIL import Image
from support.doors import Response, jupyter_fetch, release, standalone_fetch
from traitlets.config import Config

DOORS = ["jupyter", "standalone"]


@pytest.fixture(params=DOORS)
def door(request, lake_case):
    """Each door in turn on the lake of `lake_case`; only the one asked for is started."""
    return request.getfixturevalue(f"{request.param}_door")


@pytest.fixture
def jp_base_url():
    return "/user/astro/"


@pytest.fixture
def jp_server_config(lake_case):
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"fink_cutout_jupyter": True}},
            "FinkCutoutsApp": {
                "lake": lake_case.lake,
                "index": lake_case.index,
                "science_dir": lake_case.science_dir,
                "workers": 2,
            },
        }
    )


@pytest.fixture
def jupyter_door(jp_fetch):
    return jupyter_fetch(jp_fetch)


@pytest.fixture
def standalone_door(lake_case, jp_asyncio_loop):
    from aiohttp.test_utils import TestServer

    from fink_cutout_jupyter.doors.settings import DoorSettings
    from fink_cutout_jupyter.doors.standalone import create_app

    app = create_app(
        DoorSettings(lake_case.lake, lake_case.index, science_dir=lake_case.science_dir, workers=2)
    )
    server = TestServer(app, host="127.0.0.1")
    jp_asyncio_loop.run_until_complete(server.start_server())
    yield standalone_fetch(server)
    jp_asyncio_loop.run_until_complete(server.close())


async def post(door, **payload) -> Response:
    return await door("api/v1/cutouts", method="POST", body=json.dumps(payload).encode())


async def test_args_are_described(door):
    response = await door("api/v1/cutouts")
    assert response.status == 200
    names = [arg["name"] for arg in response.json()["args"]]
    for name in ("hdfsPath", "objectId", "kind", "candid", "return_type", "output-format"):
        assert name in names


async def test_the_seed_readme_request(door, lake_case):
    response = await post(
        door,
        hdfsPath=lake_case.path,
        kind="Science",
        objectId=lake_case.object_id,
        return_type="array",
    )
    assert response.status == 200
    arrays = response.json()
    assert len(arrays) == 1
    assert np.array(arrays[0], dtype=float).shape == (63, 63)


async def test_fits_opens_with_astropy_and_equals_the_array(door, lake_case):
    common = {"hdfsPath": lake_case.path, "objectId": lake_case.object_id, "kind": "Difference"}
    array = (await post(door, **common, return_type="array")).json()[0]
    response = await post(door, **common, return_type="FITS")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/fits"
    with fits.open(io.BytesIO(response.body), ignore_missing_simple=True) as hdul:
        data = hdul[0].data
    np.testing.assert_array_equal(np.array(array, dtype=float), data)


async def test_the_three_kinds_differ_and_all_returns_three(door, lake_case):
    arrays = []
    for kind in ("Science", "Template", "Difference"):
        response = await post(
            door, objectId=lake_case.object_id, kind=kind, hdfsPath=lake_case.path
        )
        arrays.append(response.json()[0])
    assert arrays[0] != arrays[1] != arrays[2] != arrays[0]
    everything = (await post(door, objectId=lake_case.object_id, hdfsPath=lake_case.path)).json()
    assert everything == arrays


async def test_get_with_query_parameters_equals_post(door, lake_case):
    params = {"objectId": lake_case.object_id, "kind": "Template", "hdfsPath": lake_case.path}
    got = await door("api/v1/cutouts", params=params)
    posted = await post(door, **params)
    assert got.status == posted.status == 200
    assert got.body == posted.body


async def test_without_path_the_index_gives_the_latest_alert(door, lake_case):
    latest = await post(door, objectId=lake_case.object_id, kind="Science", return_type="FITS")
    assert latest.status == 200
    explicit = await post(
        door,
        objectId=lake_case.object_id,
        candid=lake_case.alert_ids[-1],
        kind="Science",
        return_type="FITS",
    )
    assert explicit.body == latest.body
    assert f"_{lake_case.alert_ids[-1]}_Science.fits" in explicit.headers["Content-Disposition"]


@pytest.mark.parametrize("with_candid", [True, False])
async def test_every_answer_is_revalidated_by_its_etag(door, lake_case, with_candid):
    """Caches may store stamps but must ask again: the ETag names the file's identity."""
    params = {"objectId": lake_case.object_id}
    if with_candid:
        params["candid"] = str(lake_case.alert_ids[0])
    first = await door("api/v1/cutouts", params=params)
    assert first.status == 200
    assert first.headers["Cache-Control"] == "private, no-cache"
    etag = first.headers["ETag"]
    assert etag[0] == etag[-1] == '"'  # a strong ETag
    again = await door("api/v1/cutouts", params=params, headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.body == b""
    assert again.headers["ETag"] == etag
    other = await door(
        "api/v1/cutouts", params={**params, "kind": "Science"}, headers={"If-None-Match": etag}
    )
    assert other.status == 200
    assert other.headers["ETag"] != etag


async def test_all_as_fits_is_multi_extension(door, lake_case):
    response = await post(door, objectId=lake_case.object_id, kind="All", return_type="FITS")
    assert response.status == 200
    assert "_All.fits" in response.headers["Content-Disposition"]
    with fits.open(io.BytesIO(response.body)) as hdul:
        assert [hdu.name for hdu in hdul[1:]] == ["SCIENCE", "TEMPLATE", "DIFFERENCE"]
        assert hdul[1].header["OBJECT"] == lake_case.object_id


async def test_png_single_and_side_by_side(door, lake_case):
    single = await post(
        door, objectId=lake_case.object_id, kind="Science", **{"output-format": "PNG"}
    )
    assert single.status == 200
    assert single.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(single.body)).size == (63, 63)
    options = {"stretch": "asinh", "colormap": "viridis", "pmin": 1, "pmax": 99, "flip": True}
    three = await post(door, objectId=lake_case.object_id, return_type="PNG", **options)
    assert three.status == 200
    assert Image.open(io.BytesIO(three.body)).size == (63 * 3 + 4, 63)
    smoothed = await post(
        door, objectId=lake_case.object_id, return_type="PNG", convolution_kernel="gauss", **options
    )
    assert smoothed.body != three.body


async def test_alerts_of_an_object_sorted_by_time(door, lake_case):
    response = await door("api/v1/alerts", params={"objectId": lake_case.object_id})
    assert response.status == 200
    alerts = response.json()
    assert len(alerts) == len(lake_case.alerts) >= 2
    for got, expected in zip(alerts, lake_case.alerts, strict=True):
        assert got == pytest.approx(expected)


async def test_openapi_document_is_valid_and_complete(door):
    response = await door("api/v1/openapi.json")
    assert response.status == 200
    document = response.json()
    validate(document)
    documented = set(document["components"]["schemas"]["CutoutQuery"]["properties"])
    described = {arg["name"] for arg in (await door("api/v1/cutouts")).json()["args"]}
    assert documented == described


async def test_every_documented_choice_is_accepted(door, lake_case):
    document = (await door("api/v1/openapi.json")).json()
    properties = document["components"]["schemas"]["CutoutQuery"]["properties"]
    for name, schema in properties.items():
        for choice in schema.get("enum", [])[:40]:
            params = {"objectId": lake_case.object_id, "kind": "Science", name: choice}
            if name not in ("kind", "return_type", "output-format"):
                params["return_type"] = "PNG"
            response = await door("api/v1/cutouts", params=params)
            assert response.status == 200, (name, choice, response.body)


BAD_REQUESTS = [
    (
        {"kind": "Sci"},
        400,
        "kind: 'Sci' is not allowed; allowed: Science, Template, Difference, All",
    ),
    ({"return_type": "jpeg"}, 400, "return_type: 'jpeg' is not allowed; allowed: array, FITS, PNG"),
    ({"objectId": None}, 400, "objectId: missing"),
    ({"objectId": "toto"}, 400, "objectId: 'toto'"),
    ({"kindd": "Science"}, 400, "kindd: unknown parameter; allowed:"),
    ({"stretch": "cubic", "return_type": "PNG"}, 400, "stretch: 'cubic' is not allowed"),
    ({"pmin": "low", "return_type": "PNG"}, 400, "pmin: 'low' is not a number"),
    (
        {"flip": "maybe", "return_type": "PNG"},
        400,
        "flip: 'maybe' is not allowed; allowed: true, false",
    ),
    ({"candid": "12x"}, 400, "candid: '12x' is not an id (a whole number from 0 to 2**63-1)"),
    ({"objectId": "ZTF99zzzzzzz"}, 404, "objectId: no alert of ZTF99zzzzzzz"),
    ({"candid": "1"}, 404, "candid: no alert 1"),
    ({"hdfsPath": "science/none.parquet"}, 404, "no file 'science/none.parquet'"),
    ({"hdfsPath": "../../etc/passwd"}, 403, "leaves the lake root"),
    ({"hdfsPath": "/etc/passwd"}, 403, "is outside the lake root"),
    ({"hdfsPath": "hdfs://10.0.0.1:8020/user/fink/x.parquet"}, 403, "not on the lake's filesystem"),
    # Found by probing as an attacker would (issue 11): each was a 500, a 503 or a huge echo.
    ({"candid": "9223372036854775808", "hdfsPath": "x.parquet"}, 400, "from 0 to 2**63-1"),
    ({"candid": "1" * 5000}, 400, "candid: 5000 characters, at most 256"),
    ({"objectId": "Z" * 5000}, 400, "objectId: 5000 characters, at most 256"),
    ({"hdfsPath": "science"}, 404, "no file 'science'"),
    ({"hdfsPath": "a" * 300}, 404, "longer than 255 bytes"),
    ({"candid": "12", "flip": "yes"}, 400, "flip: 'yes' is not allowed; allowed: true, false"),
]


@pytest.mark.parametrize(("change", "status", "text"), BAD_REQUESTS)
async def test_bad_requests_get_clear_errors_and_lose_nothing(
    door, lake_case, change, status, text
):
    params = {"objectId": lake_case.object_id, "kind": "Science", **change}
    params = {key: value for key, value in params.items() if value is not None}
    response = await door("api/v1/cutouts", params=params)
    assert response.status == status
    assert response.json()["status"] == "error"
    assert text in response.json()["text"]
    assert len(response.body) < 700, "the input is quoted, not echoed"
    assert lake_case.lake not in response.json()["text"], "no server path"
    assert (await post(door, objectId=lake_case.object_id, kind="Science")).status == 200


async def test_bad_bodies_are_refused(door):
    for body, status, text in [
        (b"[1", 400, "not valid JSON"),
        (b"[1, 2]", 400, "expected a JSON object"),
        (b"", 400, "body: empty"),
        (b"[" * 5000 + b"]" * 5000, 400, "not valid JSON"),
        (b'{"objectId": "ZTF24abssjsb", "colormap": []}', 400, "colormap: expected text"),
        (b'{"objectId": "ZTF24abssjsb", "colormap": {}}', 400, "colormap: expected text"),
        (b'{"objectId": "' + b"x" * 1_100_000 + b'"}', 413, "more than 65536"),
    ]:
        response = await door("api/v1/cutouts", method="POST", body=body)
        assert response.status == status, body[:30]
        assert response.json()["status"] == "error"
        assert text in response.json()["text"]


async def test_unknown_routes_and_methods_answer_in_the_contracts_shape(door):
    unknown = await door("api/v1/nope")
    assert unknown.status == 404
    assert unknown.json()["status"] == "error"
    assert "routes:" in unknown.json()["text"]
    wrong = await door("api/v1/alerts", method="DELETE")
    assert wrong.status == 405
    assert wrong.json()["status"] == "error"


async def test_alerts_needs_an_object(door):
    response = await door("api/v1/alerts")
    assert response.status == 400
    assert "objectId: missing" in response.json()["text"]


@pytest.mark.parametrize("lake_case", ["demo"], indirect=True)
async def test_a_held_read_does_not_stall_other_requests(door, lake_case):
    """A read blocked on the filesystem (a FIFO nobody writes) leaves the server answering."""
    fifo = Path(lake_case.lake) / "held.parquet"
    os.mkfifo(fifo)
    try:
        held = asyncio.ensure_future(
            door("api/v1/cutouts", params={"objectId": lake_case.object_id, "hdfsPath": fifo.name})
        )
        await asyncio.sleep(0.5)
        assert not held.done()
        other = await door(
            "api/v1/cutouts", params={"objectId": lake_case.object_id, "kind": "Science"}
        )
        assert other.status == 200
        assert not held.done(), "the held read was still waiting while another request was answered"
        release(fifo)
        released = await asyncio.wait_for(held, 20)
        assert released.status == 503, released.body  # a FIFO cannot seek: an error, not a 500
        assert "held.parquet" in released.json()["text"]
    finally:
        fifo.unlink()


async def test_a_batch_answers_every_id_in_order_with_its_stamps(door, lake_case):
    import pyarrow as pa
    from support.rewrites import stored_stamps

    ids = [*reversed(lake_case.alert_ids), 42]
    response = await post(door, candid=[str(i) for i in ids], kind="Difference")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(response.body).read_all()
    assert table.column("id").to_pylist() == [str(i) for i in ids]
    statuses = table.column("status").to_pylist()
    assert statuses[-1] == "not found: candid: no alert 42 in the lake's alert index"
    differences = table.column("Difference").combine_chunks().to_numpy_ndarray()
    by_id = {alert["alertId"]: alert for alert in lake_case.alerts}
    for row, alert_id in enumerate(ids[:-1]):
        assert statuses[row] == "ok"
        stored = stored_stamps(Path(lake_case.lake) / by_id[alert_id]["hdfsPath"], alert_id)
        with fits.open(io.BytesIO(stored["Difference"]), ignore_missing_simple=True) as hdul:
            np.testing.assert_array_equal(differences[row], hdul[0].data.astype(np.float32))


@pytest.mark.parametrize(
    ("payload", "status", "text"),
    [
        ({"candid": list(range(2001))}, 400, "at most 2000 per request"),
        ({"objectId": ["ZTF24abssjsb"], "return_type": "PNG"}, 400, "allowed: arrow, array"),
        ({"candid": [1], "diaSourceId": [2]}, 400, "one list of ids"),
    ],
)
async def test_a_bad_batch_is_refused_and_names_the_parameter(door, payload, status, text):
    response = await post(door, **payload)
    assert response.status == status
    assert text in response.json()["text"]


# /api/v1/history and solar-system objects (issue 24), through each door

SOLAR_SYSTEM = {21163624394469969: "2004 JQ12", 21165806389311562: "2020 SJ88"}


@pytest.fixture(scope="session")
def rubin_lake_case(rubin_lake, rubin_records, tmp_path_factory):
    """The real Rubin alerts, indexed outside their lake; its object: the first with a
    diaObject (each has one alert)."""
    from support.real_data import LakeCase

    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    index_root = str(tmp_path_factory.mktemp("rubin-door-index"))
    build(AlertIndex(rubin_lake, index_root), rubin_lake.nights(), progress=False)
    record = next(r for r in rubin_records if (r["diaObject"] or {}).get("diaObjectId"))
    object_id = str(record["diaObject"]["diaObjectId"])
    return LakeCase("rubin", rubin_lake.uri, index_root, "science", object_id, (), "", ())


def _history_schema_validator(document: dict):
    """A JSON Schema validator of the document's History schema (its references resolved)."""
    import jsonschema

    schema = {**document["components"]["schemas"]["History"], "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


async def test_history_of_a_ztf_object_is_its_alerts_and_their_history(door, lake_case):
    from support.expected_history import assert_points, ztf_history

    files = sorted((Path(lake_case.lake) / lake_case.science_dir).rglob("*.parquet"))
    candid, expected = ztf_history(files, lake_case.object_id)
    response = await door("api/v1/history", params={"objectId": lake_case.object_id})
    assert response.status == 200, response.body
    body = response.json()
    assert (body["survey"], body["objectId"], body["unit"]) == ("ztf", lake_case.object_id, "mag")
    assert body["latestAlertId"] == str(candid) == str(lake_case.alert_ids[-1])
    assert_points(body, expected, "utc")
    assert {p["alertId"] for p in body["points"] if p["indexed"]} == {
        str(i) for i in lake_case.alert_ids
    }
    document = (await door("api/v1/openapi.json")).json()
    _history_schema_validator(document).validate(body)
    assert response.headers["Cache-Control"] == "private, no-cache"
    etag = response.headers["ETag"]
    again = await door(
        "api/v1/history",
        params={"objectId": lake_case.object_id},
        headers={"If-None-Match": etag},
    )
    assert (again.status, again.body) == (304, b"")


@pytest.mark.parametrize("lake_case", ["rubin"], indirect=True)
async def test_history_of_rubin_objects_and_solar_system_objects(door, lake_case, rubin_records):
    from support.expected_history import assert_points, rubin_history

    validator = _history_schema_validator((await door("api/v1/openapi.json")).json())
    objects = sorted({(r["diaObject"] or {}).get("diaObjectId") for r in rubin_records} - {None})
    asked = [({"diaObjectId": str(i)}, {"object_id": i}) for i in objects]
    asked += [({"ssObjectId": str(i)}, {"ss_object_id": i}) for i in SOLAR_SYSTEM]
    for params, named in asked:
        latest, expected = rubin_history(rubin_records, **named)
        response = await door("api/v1/history", params=params)
        assert response.status == 200, response.body
        body = response.json()
        validator.validate(body)
        assert body["latestAlertId"] == str(latest["diaSourceId"])
        assert (body["survey"], body["unit"]) == ("lsst", "nJy")
        if "ss_object_id" in named:
            assert body["objectId"] is None
            assert body["ssObjectId"] == params["ssObjectId"]
            assert body["designation"] == SOLAR_SYSTEM[named["ss_object_id"]]
        else:
            assert (body["objectId"], body["ssObjectId"]) == (params["diaObjectId"], None)
        assert_points(body, expected, "tai")


@pytest.mark.parametrize("lake_case", ["rubin"], indirect=True)
async def test_a_solar_system_objects_alerts_and_stamps(door, lake_case, rubin_records):
    for ss_object_id, designation in SOLAR_SYSTEM.items():
        record = next(
            r for r in rubin_records if (r["ssSource"] or {}).get("ssObjectId") == ss_object_id
        )
        alerts = await door("api/v1/alerts", params={"ssObjectId": str(ss_object_id)})
        assert alerts.status == 200, alerts.body
        [alert] = alerts.json()
        assert alert["objectId"] is None
        assert alert["alertId"] == record["diaSourceId"]
        assert (alert["ssObjectId"], alert["designation"]) == (str(ss_object_id), designation)
        for extra in ({}, {"candid": str(record["diaSourceId"])}):
            params = {"ssObjectId": str(ss_object_id), "kind": "Template", "return_type": "FITS"}
            stamp = await door("api/v1/cutouts", params={**params, **extra})
            assert stamp.status == 200, stamp.body
            assert stamp.body == record["cutoutTemplate"]
            posted = await post(door, ssObjectId=ss_object_id, kind="Template", return_type="FITS")
            assert posted.body == stamp.body


HISTORY_REFUSALS = [
    ({}, 400, "objectId: missing; give one of objectId, diaObjectId, ssObjectId"),
    (
        {"objectId": "170028485706776685", "ssObjectId": "21163624394469969"},
        400,
        "objectId, ssObjectId: give one of them",
    ),
    ({"ssObjectId": "2004 JQ12"}, 400, "ssObjectId: '2004 JQ12' is not an id"),
    ({"kind": "Science", "objectId": "1"}, 400, "kind: unknown parameter"),
    ({"objectId": "1"}, 404, "objectId: no alert of 1"),
    ({"ssObjectId": "21163624394469968"}, 404, "ssObjectId: no alert of 21163624394469968"),
]


@pytest.mark.parametrize("lake_case", ["rubin"], indirect=True)
@pytest.mark.parametrize(("params", "status", "text"), HISTORY_REFUSALS)
async def test_bad_history_requests_name_the_parameter(door, lake_case, params, status, text):
    response = await door("api/v1/history", params=params)
    assert response.status == status, response.body
    assert response.json()["status"] == "error"
    assert text in response.json()["text"]


@pytest.mark.parametrize("lake_case", ["rubin"], indirect=True)
@pytest.mark.parametrize(
    ("route", "params", "text"),
    [
        ("alerts", {"objectId": "1", "ssObjectId": "1"}, "objectId, ssObjectId: give one of them"),
        ("alerts", {"ssObjectId": "x"}, "ssObjectId: 'x' is not an id"),
        (
            "cutouts",
            {"diaObjectId": "1", "ssObjectId": "1"},
            "ssObjectId, diaObjectId: give ssObjectId without diaObjectId",
        ),
        (
            "cutouts",
            {"hdfsPath": "science/x.parquet", "ssObjectId": "1"},
            "ssObjectId, hdfsPath: give ssObjectId without hdfsPath",
        ),
    ],
)
async def test_ss_object_id_beside_another_name_is_a_400(door, lake_case, route, params, text):
    response = await door(f"api/v1/{route}", params=params)
    assert response.status == 400
    assert text in response.json()["text"]


@pytest.mark.parametrize("lake_case", ["rubin"], indirect=True)
async def test_a_candid_of_another_solar_system_object_is_a_404(door, lake_case, rubin_records):
    first, second = sorted(SOLAR_SYSTEM)
    other = next(r for r in rubin_records if (r["ssSource"] or {}).get("ssObjectId") == second)
    response = await door(
        "api/v1/cutouts", params={"ssObjectId": str(first), "candid": str(other["diaSourceId"])}
    )
    assert response.status == 404
    assert f"is not an alert of ssObjectId {first}" in response.json()["text"]
