"""StampPanels without a browser: the pixels travel as binary buffers, traits are checked."""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
import traitlets
from ipywidgets.widgets.widget import _remove_buffers

from fink_cutout_jupyter.widgets.assets import STATIC
from fink_cutout_jupyter.widgets.stamp_panels import StampPanels


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
    node = shutil.which("node")
    if node is None:
        message = "node is missing: apt-get install nodejs (CI has it for npm and biome)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
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
