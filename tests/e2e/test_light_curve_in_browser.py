"""The light curve of a Rubin object in a real JupyterLab, driven in Debian's Chromium by
Playwright: what the SVG holds (each detection and forced point, its band's colour, the zero
line) against fastavro's reading of the real alerts, the hover texts, and a click that opens a
detection's alert (on the Rubin demo, whose object has several alerts in the index).
"""

import math
import os
import re
import shutil
import subprocess
import sys
from collections import Counter

import pytest
from astropy.time import Time
from support.browser import ARTIFACTS, browser_page, notebook, require_chromium, run_notebook
from support.servers import free_port, wait_for_http

from fink_cutout_jupyter.surveys import LSST

TOKEN = "e2e-token"
HEADERS = {"Authorization": f"token {TOKEN}"}
RUBIN_OBJECT = 170028485706776685

# Every attribute the checks read, of every marker, in one round trip.
MARKERS = """root => [...root.querySelectorAll('.fink-point, .fink-forced')].map(e => ({
  kind: e.classList.contains('fink-forced') ? 'forced' : 'detection',
  filter: e.dataset.filter, alertId: e.dataset.alertId || '', indexed: e.dataset.indexed,
  fill: e.getAttribute('fill'), stroke: e.getAttribute('stroke'),
  y: e.getBBox().y + e.getBBox().height / 2,
}))"""
# The centres of the ring and of the detection of an alert id (SVG coordinates).
RINGED = """(root, id) => {
  const ring = root.querySelector('.fink-shown');
  const box = root.querySelector(`.fink-point[data-alert-id='${id}']`).getBBox();
  return {ring: [+ring.getAttribute('cx'), +ring.getAttribute('cy')],
          point: [box.x + box.width / 2, box.y + box.height / 2]};
}"""
# The index of the first marker of `selector` whose centre is not covered by another element.
UNCOVERED = """([root, selector]) => [...root.querySelectorAll(selector)].findIndex(e => {
  const box = e.getBoundingClientRect();
  return document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2) === e;
})"""


@pytest.fixture(scope="module")
def jupyter(rubin_root, rubin_demo, tmp_path_factory):
    """A real JupyterLab whose notebooks open a viewer on the real Rubin object and on the
    Rubin demo's object."""
    require_chromium()
    home = tmp_path_factory.mktemp("jupyter-light-curve")
    root = home / "root"
    root.mkdir()
    viewer = "from fink_cutout_jupyter import CutoutClient, CutoutViewer\n"
    (root / "rubin.ipynb").write_text(
        notebook(f'{viewer}CutoutViewer({RUBIN_OBJECT}, client=CutoutClient(lake="{rubin_root}"))')
    )
    (root / "demo.ipynb").write_text(
        notebook(
            f'{viewer}CutoutViewer("{rubin_demo.demo_object_id}", '
            f'client=CutoutClient(lake="{rubin_demo.root}"))'
        )
    )
    environment = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "FINK_CUTOUTS_LAKE": str(rubin_demo.root),
    }
    for name in ("FINK_CUTOUTS_URL", "JUPYTERHUB_SERVICE_URL"):
        environment.pop(name, None)
    port = free_port()
    log = (home / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.jpserver_extensions={'fink_cutout_jupyter': True}",
            f"--FinkCutoutsApp.lake={rubin_demo.root}",
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/api/v1/openapi.json", HEADERS, 120)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        shutil.rmtree(home / "runtime", ignore_errors=True)


def finite(value) -> bool:
    return value is not None and math.isfinite(value)


async def open_curve(page, jupyter: str, name: str):
    url = f"{jupyter}/lab/tree/{name}?token={TOKEN}"
    viewer = await run_notebook(page, url, f"{jupyter}/api/sessions", HEADERS, ".jp-NotebookPanel")
    curve = viewer.locator(".fink-lightcurve").first
    await curve.locator(".fink-point").first.wait_for(timeout=60_000)
    return viewer, curve


async def hover_first_uncovered(page, curve, selector: str) -> str:
    """Hover the first marker of `selector` nothing covers; the readout it writes."""
    index = await page.evaluate(UNCOVERED, [await curve.element_handle(), selector])
    assert index >= 0, f"some {selector} is not covered"
    readout = curve.locator(".fink-lightcurve-readout")
    before = await readout.text_content()
    await curve.locator(selector).nth(index).hover()
    await page.wait_for_function(
        "([e, old]) => e.textContent && e.textContent !== old",
        arg=[await readout.element_handle(), before],
    )
    return await readout.text_content()


async def test_a_rubin_objects_detections_and_forced_points_per_band(jupyter, rubin_records):
    (record,) = [
        r for r in rubin_records if (r["diaObject"] or {}).get("diaObjectId") == RUBIN_OBJECT
    ]
    sources = {s["diaSourceId"]: s for s in record["prvDiaSources"]}
    sources[record["diaSourceId"]] = record["diaSource"]
    detections = {i: s for i, s in sources.items() if finite(s["psfFlux"])}
    forced = [s for s in record["prvDiaForcedSources"] if finite(s["psfFlux"])]
    async with browser_page("light_curve_rubin") as page:
        _, curve = await open_curve(page, jupyter, "rubin.ipynb")
        markers = await curve.evaluate(MARKERS)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await curve.screenshot(path=str(ARTIFACTS / "light-curve-rubin.png"))
        zero = curve.locator(".fink-zero")
        assert await zero.count() == 1, "a flux's zero line"
        zero_y = float(await zero.get_attribute("y1"))
        assert await curve.locator(".fink-shown").count() == 1

        drawn = [m for m in markers if m["kind"] == "detection"]
        assert {m["alertId"] for m in drawn} == {str(i) for i in detections}
        assert Counter(m["filter"] for m in drawn) == Counter(
            s["band"] for s in detections.values()
        )
        for marker in drawn:
            assert marker["fill"] == LSST.filter_styles[marker["filter"]].colour
            assert marker["indexed"] == str(int(marker["alertId"]) == record["diaSourceId"]).lower()
        hollow = [m for m in markers if m["kind"] == "forced"]
        assert Counter(m["filter"] for m in hollow) == Counter(s["band"] for s in forced)
        assert len(hollow) == 395
        for marker in hollow:
            assert marker["fill"] == "none"
            assert marker["stroke"] == LSST.filter_styles[marker["filter"]].colour
        # the zero line between the brightest detection and the faintest forced flux
        y_of = {m["alertId"]: m["y"] for m in drawn}
        brightest = max(detections, key=lambda i: detections[i]["psfFlux"])
        assert detections[brightest]["psfFlux"] > 0
        assert y_of[str(brightest)] < zero_y, "positive fluxes above the line"
        assert min(s["psfFlux"] for s in forced) < 0
        assert max(m["y"] for m in hollow) > zero_y, "negative fluxes below it"

        text = await hover_first_uncovered(page, curve, ".fink-forced")
        assert text.endswith("forced photometry: no alert to open")
        mjd = float(re.search(r"MJD ([0-9.]+)", text)[1])
        band, value, error = re.search(r"· (\w) · (-?[0-9.]+) ± ([0-9.]+) nJy", text).groups()
        source = min(forced, key=lambda s: abs(s["midpointMjdTai"] - mjd))
        assert source["midpointMjdTai"] == pytest.approx(mjd, abs=1e-5)
        assert (band, float(value), float(error)) == (
            source["band"],
            pytest.approx(source["psfFlux"], abs=0.051),
            pytest.approx(source["psfFluxErr"], abs=0.051),
        )
        utc = Time(source["midpointMjdTai"], format="mjd", scale="tai").utc.isot
        assert text.startswith(f"{utc}Z (MJD "), "the time in UTC (astropy), ISO 8601"

        text = await hover_first_uncovered(page, curve, ".fink-point[data-indexed='false']")
        assert "· detection · alert " in text
        assert text.endswith("not in the index: no stamps to open")


async def test_a_click_on_a_detection_opens_its_alert(jupyter, rubin_demo):
    from fink_cutout_jupyter.client import CutoutClient

    alerts = CutoutClient(lake=str(rubin_demo.root)).alerts(rubin_demo.demo_object_id)
    oldest, latest = alerts[0], alerts[-1]
    async with browser_page("light_curve_click") as page:
        viewer, curve = await open_curve(page, jupyter, "demo.ipynb")
        openable = curve.locator(".fink-point[data-indexed='true']")
        assert await openable.count() == len(alerts) > 1
        ring = curve.locator(".fink-shown")
        assert await ring.count() == 1
        title = viewer.locator(".widget-html").first
        assert str(latest["alertId"]) in await title.inner_text()
        point = curve.locator(f".fink-point[data-alert-id='{oldest['alertId']}']")
        await point.click()
        await page.wait_for_function(
            "([e, id]) => e.innerText.includes(`alert ${id}`)",
            arg=[await title.element_handle(), str(oldest["alertId"])],
        )
        ringed = await curve.evaluate(RINGED, str(oldest["alertId"]))
        assert ringed["ring"] == pytest.approx(ringed["point"], abs=0.5), "the ring moved to it"
        text = await curve.locator(".fink-lightcurve-readout").text_content()
        assert f"alert {oldest['alertId']}" in text
        assert "not in the index" not in text
