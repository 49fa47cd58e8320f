"""StampPanels without a browser: the pixels travel as binary buffers, traits are checked."""

import json
import re
import subprocess

import numpy as np
import pytest
import traitlets
from ipywidgets.widgets.widget import _remove_buffers

from fink_cutout_jupyter.widgets.assets import STATIC
from fink_cutout_jupyter.widgets.stamp_panels import StampPanels
from tests.support.node import node_or_skip


def test_pixels_travel_as_binary_buffers_not_json():
    pixels = np.arange(63 * 63, dtype="<f4").tobytes()
    panels = StampPanels(stamps=[{"kind": "Science", "width": 63, "height": 63, "pixels": pixels}])
    state, buffer_paths, buffers = _remove_buffers(panels.get_state())
    assert ["stamps", 0, "pixels"] in buffer_paths
    assert pixels in [bytes(buffer) for buffer in buffers]
    assert "pixels" not in state["stamps"][0], "no copy of them in the JSON part"
    assert all(["colormaps", name] in buffer_paths for name in panels.colormaps)


def test_colormaps_are_sent_on_demand_and_checked():
    panels = StampPanels(colormap="plasma", difference_colormap="PuOr")
    assert {"plasma", "PuOr", "gray", "RdBu_r"} <= set(panels.colormaps)
    panels.colormap = "twilight"
    assert len(panels.colormaps["twilight"]) == 768
    with pytest.raises(traitlets.TraitError, match="not a matplotlib colormap"):
        panels.colormap = "no-such-map"


@pytest.mark.parametrize(
    ("name", "value"),
    [("zoom", 0.5), ("zoom", 17), ("stretch", "cubic"), ("interval", "mad"), ("size", "huge")],
)
def test_out_of_range_values_are_refused(name, value):
    with pytest.raises(traitlets.TraitError):
        setattr(StampPanels(), name, value)


def test_the_browser_code_ships_in_the_package():
    panels = StampPanels()
    assert (STATIC / "stamps.js").is_file()
    assert "export default { render }" in (STATIC / "stamps.js").read_text()
    assert panels._esm  # anywidget read the module


def test_the_browser_takes_menus_sizes_and_zoom_limit_from_the_kernel():
    """One source: the traits' own limits travel to the browser, whose code holds no copy."""
    panels = StampPanels()
    state = panels.get_state()
    traits = StampPanels.class_traits()
    assert state["max_zoom"] == traits["zoom"].max
    assert tuple(state["size_pixels"]) == tuple(traits["size"].values)
    assert state["choices"] == {
        "stretch": list(traits["stretch"].values),
        "interval": list(traits["interval"].values),
    }
    for name, value in [("max_zoom", 32.0), ("size_pixels", {}), ("choices", {})]:
        with pytest.raises(traitlets.TraitError, match="read-only"):
            setattr(panels, name, value)
    browser_code = panels._esm
    for name in ("max_zoom", "size_pixels", "choices"):
        assert f'model.get("{name}")' in browser_code
    for pixels in state["size_pixels"].values():
        assert not re.search(rf"\b{pixels}\b", browser_code), f"a copy of {pixels} px"
    assert not re.search(r"\b(MAX_ZOOM|SIZES|16)\b", browser_code)
    assert not re.search(r'\["linear", "sqrt"|\["percentile", "zscale"', browser_code), "a menu"


ZOOM_IN_NODE = """
import { zoomAbout } from "./stamp_geometry.js";
const traits = { ...JSON.parse(process.argv[1]), center: [31.5, 31.5], flip: false };
const model = { get: (name) => traits[name], set: (name, value) => { traits[name] = value; },
                save_changes: () => {} };
const stamps = JSON.parse(process.argv[2]);
const state = { model, prepared: stamps.map((stamp) => ({ stamp, pixels: stamp.pixels })),
                panels: [], blinkStep: 0 };
for (let i = 0; i < 10; i++) zoomAbout(state, 0, 2);
console.log(JSON.stringify(traits.zoom));
"""


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        ([{"kind": "Science", "width": 63, "height": 63, "pixels": [0]}], "max_zoom"),
        ([{"kind": "Science", "width": 63, "height": 63, "error": "corrupt"}], 1.0),
    ],
    ids=["stops at the kernel's max_zoom", "no stamp with pixels: nothing to zoom"],
)
def test_the_browser_zooms_up_to_the_kernels_limit(stamps, expected):
    node = node_or_skip()
    state = StampPanels(size="small").get_state()
    traits = {name: state[name] for name in ("zoom", "max_zoom", "size", "size_pixels")}
    zoomed = subprocess.run(
        [node, "--input-type=module", "-e", ZOOM_IN_NODE, json.dumps(traits), json.dumps(stamps)],
        cwd=STATIC,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert zoomed.returncode == 0, zoomed.stderr
    assert json.loads(zoomed.stdout) == (state["max_zoom"] if expected == "max_zoom" else expected)


def test_the_panels_defaults_are_ztfs_display_and_a_surveys_display_gives_its_traits():
    from fink_cutout_jupyter.surveys import DEFAULT_SURVEY, LSST, ZTF
    from fink_cutout_jupyter.widgets.stamp_panels import display_traits

    assert DEFAULT_SURVEY == ZTF
    panels = StampPanels()
    ztf = ZTF.stamp_display
    shown = (panels.stretch, panels.difference_stretch, panels.interval, panels.pmin, panels.pmax)
    assert shown == (ztf.stretch, ztf.difference_stretch, ztf.interval, ztf.pmin, ztf.pmax)
    assert shown == ("linear", "linear", "zscale", 0.5, 99.5), "ZTF as the viewer always showed it"
    assert display_traits(LSST.stamp_display) == {
        "stretch": "asinh",
        "difference_stretch": "linear",
        "interval": "percentile",
        "pmin": 0.5,
        "pmax": 99.95,
    }
    assert panels.reticle
    assert panels.scale_bar
    with pytest.raises(traitlets.TraitError):
        panels.difference_stretch = "cubic"


def test_the_browser_takes_overlay_colours_and_scale_bar_lengths_from_the_kernel():
    from fink_cutout_jupyter.widgets.stamp_display import OVERLAY_COLOURS, SCALE_BAR_ARCSEC

    panels = StampPanels()
    state = panels.get_state()
    assert state["overlay_colours"] == OVERLAY_COLOURS
    assert state["scale_bar_lengths"] == list(SCALE_BAR_ARCSEC)
    for name in ("overlay_colours", "scale_bar_lengths"):
        with pytest.raises(traitlets.TraitError, match="read-only"):
            setattr(panels, name, {} if name == "overlay_colours" else [])
    browser_code = panels._esm
    for name in (*state["overlay_colours"], "difference_stretch", "reticle", "scale_bar"):
        assert f'"{name}"' in browser_code or f".{name}" in browser_code
    for colour in OVERLAY_COLOURS.values():
        assert colour not in browser_code, f"a copy of {colour}"


SCALE_BAR_IN_NODE = """
import { scaleBarArcsec } from "./stamp_drawing.js";
const [lengths, visible] = JSON.parse(process.argv[1]);
console.log(JSON.stringify(visible.map((v) => scaleBarArcsec(lengths, v))));
"""


def test_the_browser_chooses_the_scale_bars_length_as_python_does():
    from fink_cutout_jupyter.widgets.stamp_display import SCALE_BAR_ARCSEC, scale_bar_arcsec

    node = node_or_skip()
    visible = [0.01, 0.4, 0.8, 3.99, 4.0, 6.0, 63.63, 63.63 / 16, 100.0, 1e5]
    chosen = subprocess.run(
        [
            node,
            "--input-type=module",
            "-e",
            SCALE_BAR_IN_NODE,
            json.dumps([SCALE_BAR_ARCSEC, visible]),
        ],
        cwd=STATIC,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout) == [scale_bar_arcsec(v) for v in visible]


def _rendering(**changes):
    from astropy.visualization import LogStretch

    from fink_cutout_jupyter.widgets.stamp_panels import stretch_curve

    return {"cuts": [100.0, 600.0], "curve": stretch_curve(LogStretch()), "colormap": "viridis"} | (
        changes
    )


def _markers(**changes):
    return {
        "catalog": "sources",
        "x": np.array([3.0, 40.5], "<f8").tobytes(),
        "y": np.array([10.0, 7.25], "<f8").tobytes(),
        "panels": None,
        "shape": "circle",
        "color": "red",
        "size": 6.0,
        "visible": True,
    } | changes


def test_a_rendering_is_the_kernels_cuts_curve_and_colormap():
    from astropy.visualization import LogStretch

    from fink_cutout_jupyter.widgets.stamp_panels import CURVE_SAMPLES

    panels = StampPanels(renderings={"Science": _rendering(cuts=(100, 600), colormap="cividis")})
    assert panels.renderings["Science"]["cuts"] == [100.0, 600.0]
    assert len(panels.colormaps["cividis"]) == 768, "its colormap's table is sent too"
    curve = np.frombuffer(panels.renderings["Science"]["curve"], "<f4")
    assert curve.size == CURVE_SAMPLES == 4096
    x = np.arange(CURVE_SAMPLES) / (CURVE_SAMPLES - 1)
    assert curve == pytest.approx(LogStretch()(x), abs=1e-7)
    _state, buffer_paths, _ = _remove_buffers(panels.get_state())
    assert ["renderings", "Science", "curve"] in buffer_paths, "the curve travels as bytes"


def test_the_stamps_and_the_flip_book_sample_stretches_alike():
    """One constant: a flip-book's curve has the samples of a stamp panel's."""
    from fink_cutout_jupyter.widgets import stamp_panels, timeline

    assert timeline.CURVE_SAMPLES is stamp_panels.CURVE_SAMPLES


@pytest.mark.parametrize(
    ("rendering", "message"),
    [
        (
            _rendering(curve=bytes(4 * 1024)),  # the 1024 samples of before
            r"renderings\['Science'\]\.curve: 4096 bytes, expected 16384 \(4096 float32",
        ),
        (_rendering(curve="0.5"), r"renderings\['Science'\]\.curve: bytes"),
        (
            _rendering(curve=np.full(4096, np.nan, "<f4").tobytes()),
            r"renderings\['Science'\]\.curve: samples must be finite and within \[0, 1\]",
        ),
        (_rendering(cuts=[0, float("nan")]), r"renderings\['Science'\]\.cuts: two finite"),
        (_rendering(cuts=[1]), r"renderings\['Science'\]\.cuts: two finite"),
        (_rendering(colormap="no-such-map"), r"renderings\['Science'\]\.colormap: 'no-such-map'"),
        ({"cuts": [0, 1]}, r"renderings\['Science'\]: missing colormap, curve"),
    ],
    ids=["1024 samples", "curve not bytes", "NaN curve", "NaN cut", "one cut", "colormap", "keys"],
)
def test_a_bad_rendering_is_refused_naming_its_field(rendering, message):
    panels = StampPanels()
    with pytest.raises(traitlets.TraitError, match=message):
        panels.renderings = {"Science": rendering}
    assert panels.renderings == {}


def test_markers_keep_their_positions_and_get_a_css_colour():
    panels = StampPanels(
        markers=[_markers(), _markers(catalog="other", color="tab:blue", shape="diamond")]
    )
    assert [m["color"] for m in panels.markers] == ["#ff0000ff", "#1f77b4ff"]
    assert np.frombuffer(panels.markers[0]["x"], "<f8").tolist() == [3.0, 40.5]
    _, buffer_paths, _ = _remove_buffers(panels.get_state())
    assert ["markers", 0, "x"] in buffer_paths
    assert ["markers", 1, "y"] in buffer_paths
    # as the browser sends them back (its checkbox saves `visible`): buffers arrive as memoryviews
    sent = [
        {**m, "x": memoryview(m["x"]), "y": memoryview(m["y"]), "visible": False}
        for m in panels.markers
    ]
    panels.markers = sent
    assert [m["visible"] for m in panels.markers] == [False, False]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"shape": "star"},
            r"markers\[0\]\.shape: 'star' is not one of circle, square, crosshair, plus, diamond",
        ),
        (
            {"color": "not-a-colour"},
            r"markers\[0\]\.color: 'not-a-colour' is not a matplotlib colour",
        ),
        ({"y": np.zeros(1, "<f8").tobytes()}, r"markers\[0\]\.y: 1 values for 2 of x"),
        ({"x": b"\0" * 12}, r"markers\[0\]\.x: 12 bytes: not float64 values"),
        ({"x": [3.0, 40.5]}, r"markers\[0\]\.x: bytes"),
        ({"size": -1}, r"markers\[0\]\.size: a half-width"),
        ({"panels": "Science"}, r"markers\[0\]\.panels: a list of panel labels or None"),
        ({"visible": "yes"}, r"markers\[0\]\.visible: True or False"),
    ],
    ids=["shape", "colour", "lengths", "float64", "not bytes", "size", "panels", "visible"],
)
def test_a_bad_marker_is_refused_naming_its_field(changes, message):
    panels = StampPanels()
    with pytest.raises(traitlets.TraitError, match=message):
        panels.markers = [_markers(**changes)]
    assert panels.markers == []


CURVE_IN_NODE = """
import { curveLevel } from "./colours.js";
const [curve, low, high, values] = JSON.parse(process.argv[1]);
const level = curveLevel(Float32Array.from(curve), low, high);
console.log(JSON.stringify(values.map(level)));
"""


def test_the_browser_reads_a_rendering_curve_as_numpy_interpolates_it():
    """The browser's level of a value under a kernel rendering: the cuts, clipped, then the
    curve's samples interpolated linearly (numpy.interp on astropy's LogStretch samples here)."""
    from astropy.visualization import LogStretch

    from fink_cutout_jupyter.widgets.stamp_panels import CURVE_SAMPLES, stretch_curve

    node = node_or_skip()
    curve = np.frombuffer(stretch_curve(LogStretch()), "<f4")
    low, high = 107.9, 643.0
    values = [low - 50, low, low + 1e-3, 110.0, 200.0, 399.99, 600.0, high, high + 1, 1e9, -1e9]
    levels = subprocess.run(
        [
            node,
            "--input-type=module",
            "-e",
            CURVE_IN_NODE,
            json.dumps([curve.tolist(), low, high, values]),
        ],
        cwd=STATIC,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert levels.returncode == 0, levels.stderr
    x = np.clip((np.array(values) - low) / (high - low), 0, 1) * (CURVE_SAMPLES - 1)
    expected = np.interp(x, np.arange(CURVE_SAMPLES), curve.astype(float))
    assert json.loads(levels.stdout) == pytest.approx(expected.tolist(), abs=1e-12)
    assert expected.tolist()[:2] == [0, 0], "below the cuts: the first sample"
    assert expected.tolist()[-4:] == [1, 1, 1, 0], "above: the last; 1e9 and -1e9 clipped"


FIT_IN_NODE = """
import { prepareStamps } from "./stamp_state.js";
const stamp = ([height, width]) => ({
  kind: "Science", width, height, pixels: new DataView(new ArrayBuffer(4 * width * height)),
});
const results = JSON.parse(process.argv[1]).map(([before, after, zoom, center]) => {
  const traits = { zoom, center, stamps: [stamp(after)] };
  const model = { get: (name) => traits[name], set: (name, value) => { traits[name] = value; },
                  save_changes: () => {} };
  const state = { model, prepared: [{ stamp: stamp(before), pixels: [0] }] };
  prepareStamps(state);
  return traits.center;
});
console.log(JSON.stringify(results));
"""


def test_the_browser_fits_the_view_to_stamps_of_another_shape_as_the_kernel_does():
    """New stamps of another shape: the browser's centre is the kernel's `fitted_center` (the
    stamp's centre at zoom 1, else the nearest point of the stamp); stamps of the same shape
    leave the view as it was."""
    from fink_cutout_jupyter.widgets.stamp_panels import fitted_center

    node = node_or_skip()
    cases = [
        ((63, 63), (63, 40), 4.0, [55.5, 10.5]),  # right of the narrower stamp: its edge
        ((63, 63), (63, 40), 4.0, [-3.0, 70.0]),  # beyond two sides: the corner
        ((63, 63), (63, 40), 4.0, [12.25, 50.5]),  # inside: kept
        ((63, 63), (63, 40), 1.0, [20.0, 31.5]),  # whole: centred
        ((30, 30), (63, 63), 1.0, [15.0, 15.0]),  # Rubin to ZTF, whole
        ((63, 63), (30, 30), 2.0, [40.0, 45.0]),
        ((63, 63), (63, 63), 4.0, [80.0, -5.0]),  # the same shape: as it was, even outside
    ]
    fitted = subprocess.run(
        [node, "--input-type=module", "-e", FIT_IN_NODE, json.dumps(cases)],
        cwd=STATIC,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert fitted.returncode == 0, fitted.stderr
    browser = json.loads(fitted.stdout)
    kernel = [
        center if before == after else fitted_center(center, zoom, after[1], after[0])
        for before, after, zoom, center in cases
    ]
    assert browser == kernel
    assert browser == [
        [40.0, 10.5],
        [0.0, 63.0],
        [12.25, 50.5],
        [20.0, 31.5],
        [31.5, 31.5],
        [30.0, 30.0],
        [80.0, -5.0],
    ]
