"""astropy's image-display API, proven by its own test suite: `StampViewer` subclassed into
``astro_image_display_api.api_test.ImageAPITest`` unchanged (77 cases in 0.3.0), and an instance
of its ``ImageViewerInterface`` protocol.

The package needs Python >= 3.12 (its ``api_test.py`` uses 3.12 f-strings): on 3.11 this file is
not collected (``collect_ignore`` in ``tests/conftest.py``); ``.ci/run`` runs it under 3.12.
"""

from __future__ import annotations

from astro_image_display_api import ImageViewerInterface
from astro_image_display_api.api_test import ImageAPITest

from fink_cutout_jupyter.widgets.stamp_viewer import StampViewer


class TestStampViewer(ImageAPITest):
    image_widget_class = StampViewer


def test_a_stamp_viewer_is_an_image_viewer_of_the_interface():
    assert isinstance(StampViewer(), ImageViewerInterface)
