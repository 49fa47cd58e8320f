"""The viewer's HTML pieces: every string put into HTML is escaped, links open in a new tab."""

import base64
from html.parser import HTMLParser

from fink_cutout_jupyter.widgets.viewer_html import (
    alert_label,
    alert_title,
    download_link,
    error_box,
    links_html,
)


def test_strings_put_into_html_are_escaped():
    alert = {
        "alertId": "<b>1</b>",
        "date": "2024-11-21T06:04:20+00:00",
        "filter": "<script>alert(1)</script>",
        "magnitude": 17.5,
        "magnitude_error": 0.1,
        "magnitude_unit": "mag",
        "ra": 1.0,
        "dec": -2.0,
    }
    title = alert_title("<img src=x onerror=alert(1)>", alert)
    assert "<script>" not in title
    assert "<img" not in title
    assert "&lt;script&gt;" in title
    assert "2024-11-21 06:04 UTC · <script>" in alert_label(alert)  # plain text for a Dropdown
    link = download_link(b"x", 'a"><script>.fits', "<b>")
    assert "<script>" not in link
    assert 'download="a&quot;&gt;&lt;script&gt;.fits"' in link


class _Anchors(HTMLParser):
    """The attributes and text of each ``<a>`` (the standard library's HTML parser)."""

    def __init__(self):
        super().__init__()
        self.anchors = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.anchors.append(dict(attrs))

    def handle_data(self, data):
        self.text += data


def _parsed(markup: str) -> _Anchors:
    parser = _Anchors()
    parser.feed(markup)
    parser.close()
    return parser


def test_a_download_link_carries_the_bytes_and_the_file_name_as_given():
    data = bytes(range(256))
    parsed = _parsed(download_link(data, 'a"><script>.fits', "<b>"))
    (anchor,) = parsed.anchors
    assert anchor["download"] == 'a"><script>.fits'
    prefix = "data:application/fits;base64,"
    assert anchor["href"].startswith(prefix)
    assert base64.b64decode(anchor["href"][len(prefix) :]) == data
    assert parsed.text == "<b>"


def test_links_out_open_in_a_new_tab_without_an_opener_and_keep_their_urls():
    links = {"Fink <portal>": 'https://fink-portal.org/ZTF21?a=1&b="2"', "Aladin": "https://x.org"}
    parsed = _parsed(links_html(links))
    assert [anchor["href"] for anchor in parsed.anchors] == list(links.values())
    assert {anchor["target"] for anchor in parsed.anchors} == {"_blank"}
    assert {anchor["rel"] for anchor in parsed.anchors} == {"noopener noreferrer"}
    assert parsed.text == "Fink <portal> ↗ · Aladin ↗"


def test_an_error_box_shows_the_text_as_text():
    box = error_box("<script>alert(1)</script> & more")
    assert "<script>" not in box
    assert _parsed(box).text == "⚠ <script>alert(1)</script> & more"


def test_a_solar_system_alert_is_headed_by_its_designation_and_ssobjectid():
    alert = {
        "alertId": 170094456480989258,
        "date": "2026-03-06T02:17:57+00:00",
        "filter": "i",
        "ssObjectId": "21163624394469969",
        "designation": "2004 <JQ12>",
    }
    title = alert_title(None, alert)
    assert title.startswith(
        "<b>Solar-system object 2004 &lt;JQ12&gt;</b> · ssObjectId 21163624394469969 · alert "
    )
    unnamed = alert_title(None, {**alert, "designation": None})
    assert unnamed.startswith("<b>Solar-system object</b> · ssObjectId 21163624394469969 · ")
    assert alert_title("170028485706776685", {**alert, "ssObjectId": None}).startswith(
        "<b>170028485706776685</b> · alert"
    )
