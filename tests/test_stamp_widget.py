"""StampPanels without a browser: the pixels travel as binary buffers, traits are checked."""

import re

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
