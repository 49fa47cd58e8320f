"""CutoutGallery: thumbnails of many objects or alerts, a page at a time, for vetting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from fink_cutout_jupyter.client import CutoutClient, CutoutClientError
from fink_cutout_jupyter.surveys import KINDS
from fink_cutout_jupyter.widgets.assets import STATIC, bundled_module
from fink_cutout_jupyter.widgets.gallery_ids import SOLAR_SYSTEM, gallery_ids, pages
from fink_cutout_jupyter.widgets.labels import Labels, default_labels_path
from fink_cutout_jupyter.widgets.stamp_display import colormap_tables
from fink_cutout_jupyter.widgets.viewer_html import error_box

PAGE_SIZE = 60
TILE_SIZE = 96
# How a thumbnail is coloured (the browser has no defaults of its own): percentile cuts, then
# each kind's colormap; a kind listed in "symmetric" is cut symmetrically about 0.
THUMBNAIL_COLORMAPS = {"Science": "gray", "Template": "gray", "Difference": "RdBu_r"}
THUMBNAIL_COLOURING = {
    "pmin": 0.5,
    "pmax": 99.5,
    "colormaps": THUMBNAIL_COLORMAPS,
    "symmetric": ["Difference"],
}


class GalleryGrid(anywidget.AnyWidget):
    """The browser's grid of one page of thumbnails (``static/gallery.js``)."""

    _esm = bundled_module("gallery.js")
    _css = STATIC / "gallery.css"

    tiles = traitlets.List(traitlets.Dict()).tag(sync=True)
    colormaps = traitlets.Dict(help="colormap name -> 768 bytes of RGB").tag(sync=True)
    colouring = traitlets.Dict(THUMBNAIL_COLOURING, help="see `THUMBNAIL_COLOURING`").tag(sync=True)
    labels = traitlets.Dict(help="id -> label").tag(sync=True)
    label_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    selected = traitlets.List(traitlets.Unicode()).tag(sync=True)
    current = traitlets.Int(0).tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    pages = traitlets.Int(1).tag(sync=True)
    count = traitlets.Int(0).tag(sync=True)
    tile_size = traitlets.Int(TILE_SIZE).tag(sync=True)


class CutoutGallery(widgets.VBox):
    """A grid of thumbnails for many objects or alerts, a page at a time, with vetting labels.

    Parameters
    ----------
    source : list of ids or of records, or a pandas DataFrame
        Object ids (each object's latest alert) or alert ids; or records (e.g.
        ``{"ssObjectId": ...}``) or a table with a column ``candid``, ``diaSourceId``,
        ``objectId``, ``diaObjectId`` or ``ssObjectId`` (the first found, in that order;
        ``i:candid`` and ``i:objectId`` of Fink's API too). Solar-system objects
        (``ssObjectId``) show their latest alert, and open in the viewer as such.
    client : CutoutClient, optional
        As for `CutoutViewer`.
    kind : {"Difference", "Science", "Template", "All"}
        The stamp of each thumbnail; ``All`` shows the three side by side.
    page_size : int
        Thumbnails per page (60).
    labels : sequence of str
        Vetting label names, given with the keys 1, 2, 3...
    by : {"auto", "objectId", "candid", "diaObjectId", "diaSourceId", "ssObjectId"}
        What the ids are (``auto``: alert ids if all are whole numbers, unless the column or the
        records' key names them; see `CutoutClient.batch`).
    labels_path : path, optional
        The CSV (or ``.parquet``) file the labels are saved to at every change, atomically.
        Default: ``fink-labels-<hash of the ids>.csv`` in the current directory (in Jupyter, the
        notebook's), so that a new gallery of the same ids, after a kernel restart, finds it.
        If the file exists, its labels are loaded first, all or nothing: a file that cannot be
        read raises ValueError and is left as it is.
    autosave : bool
        ``False``: the labels live only in the kernel (`save_labels` writes them).

    Only the page shown is fetched, through the batch door (`CutoutClient.batch`). Clicking a
    thumbnail (or Enter) opens the full `CutoutViewer` under the grid.
    """

    def __init__(
        self,
        source: Any,
        client: CutoutClient | None = None,
        kind: str = "Difference",
        page_size: int = PAGE_SIZE,
        labels=("real", "bogus", "unsure"),
        by: str = "auto",
        labels_path: str | Path | None = None,
        autosave: bool = True,
    ) -> None:
        if kind not in (*KINDS, "All"):
            raise ValueError(f"kind: {kind!r}; allowed: {', '.join(KINDS)}, All")
        if page_size < 1:
            raise ValueError(f"page_size: {page_size}; expected at least 1")
        self.ids, self.by = gallery_ids(source, by)
        self.kinds = list(KINDS) if kind == "All" else [kind]
        self.page_size = page_size
        if autosave:
            path = labels_path or default_labels_path(self.ids)
            try:
                self._labels = Labels(labels, autosave=path)
            except ValueError as error:
                if not Path(path).exists():
                    raise
                raise ValueError(  # a file that is not ours to overwrite
                    f"{error}; fix or move the file, or give another labels_path= "
                    "(or autosave=False)"
                ) from None
        else:
            self._labels = Labels(labels)
        self._rows: dict[str, dict[str, Any]] = {}
        self.grid = GalleryGrid(
            label_names=list(labels),
            colormaps=colormap_tables(sorted(set(THUMBNAIL_COLORMAPS.values()))),
            pages=pages(len(self.ids), page_size),
            count=len(self.ids),
        )
        self.grid.on_msg(self._on_message)
        self.grid.labels = self._labels.as_dict()
        self.labels_note = widgets.HTML(_labels_note(self._labels))
        self.message = widgets.HTML()
        self.viewer_box = widgets.VBox()
        super().__init__([self.grid, self.labels_note, self.message, self.viewer_box])
        self.add_class("fink-cutout-gallery")
        try:
            self.client = client or CutoutClient()
        except CutoutClientError as error:
            self.message.value = error_box(error.text)
            return
        self.show_page(0)

    @property
    def page(self) -> int:
        """The page shown (from 0)."""
        return self.grid.page

    @property
    def labels(self):
        """The labels given: a pandas DataFrame with columns id, label, labelled_at (UTC)."""
        return self._labels.frame()

    @property
    def labels_path(self) -> Path | None:
        """The file the labels are autosaved to (``None`` without autosave)."""
        return self._labels.autosave

    @property
    def selected(self) -> list[str]:
        """The ids selected (space, or a click with Shift or Ctrl)."""
        return list(self.grid.selected)

    def label(self, identifier: str | int, label: str | None) -> None:
        """Label one id (``None`` removes its label), then autosave.

        A failed autosave (a full disk...) is shown under the grid; the label is kept in the
        kernel and the file as it was, until the next change saves them both.
        """
        self._labels.set(identifier, label)
        self.labels_note.value = _labels_note(self._labels)
        self.grid.labels = self._labels.as_dict()

    def save_labels(self, path: str | Path) -> None:
        """Write the labels to a CSV file, or Parquet (``.parquet``, ``.pq``), whole or not at all.

        Raises
        ------
        ValueError
            Another suffix.
        IsADirectoryError, FileNotFoundError
            `path` is a directory, or its directory does not exist.
        OSError
            The write failed (a full disk...): a file already there is left as it was.
        """
        self._labels.save(path)

    def load_labels(self, path: str | Path) -> int:
        """Add the labels of a file written by `save_labels`; how many were read.

        Ids are read as text. The whole file is checked first, and loaded all or nothing.

        Raises
        ------
        ValueError
            A missing column, a blank id, an unknown label or a bad date (with its row).
        """
        count = self._labels.load(path)
        self.labels_note.value = _labels_note(self._labels)
        self.grid.labels = self._labels.as_dict()
        return count

    def show_page(self, number: int) -> None:
        """Fetch and show one page (from 0) of thumbnails."""
        number = max(0, min(number, self.grid.pages - 1))
        chosen = self.ids[number * self.page_size : (number + 1) * self.page_size]
        try:
            if self.by == SOLAR_SYSTEM:
                stamps, records = self._solar_system_page(chosen)
            else:
                stamps, table = self.client.batch(chosen, kinds=self.kinds, by=self.by)
                records = table.to_dict("records")
        except CutoutClientError as error:
            self.message.value = error_box(error.text)
            return
        self._rows.update({str(row["id"]): row for row in records})
        tiles = []
        for position, row in enumerate(records):
            planes = stamps[position]
            if "other shape" in str(row["status"]):  # a stamp cut at a CCD edge: fetched alone
                planes = self._alone(row)
            tiles.append(_tile(row, planes, self.kinds))
        self.grid.tiles = tiles
        self.grid.current = 0
        self.grid.page = number
        self.message.value = ""

    def _solar_system_page(self, chosen: list[str | int]):
        """The latest alert of each solar-system object (`CutoutClient.alerts`), then their
        stamps in one batch by alert id; rows keyed by the ssObjectId as given."""
        import numpy as np

        latest: dict[int, dict[str, Any]] = {}
        rows: list[dict[str, Any]] = []
        for ss_object_id in chosen:
            try:
                alert = self.client.alerts(ss_object_id=ss_object_id)[-1]
            except CutoutClientError as error:
                if error.status not in (400, 404):
                    raise
                rows.append({"id": str(ss_object_id), "status": f"not found: {error.text}"})
                continue
            latest[alert["alertId"]] = alert
            rows.append({"id": str(ss_object_id), "alertId": alert["alertId"]})
        if latest:
            stamps, table = self.client.batch(list(latest), kinds=self.kinds, by="diaSourceId")
            found: dict[int, tuple[int, dict[str, Any]]] = {
                int(row["alertId"]): (position, row)
                for position, row in enumerate(table.to_dict("records"))
                if row.get("alertId") is not None
            }
        else:
            stamps, found = np.full((0, len(self.kinds), 1, 1), np.nan, np.float32), {}
        planes, records = [], []
        for row in rows:
            hit = found.get(row["alertId"]) if "alertId" in row else None
            if hit is None:
                planes.append(np.full(stamps.shape[1:], np.nan, np.float32))
                records.append({**row, "status": row.get("status", "not found")})
                continue
            position, batch_row = hit
            planes.append(stamps[position])
            alert = latest[row["alertId"]]
            records.append(
                {
                    **batch_row,
                    "id": row["id"],
                    "ssObjectId": row["id"],
                    "designation": alert.get("designation"),
                }
            )
        return np.stack(planes) if planes else stamps, records

    def _alone(self, row: dict[str, Any]):
        """The stamps of one alert whose shape is not the batch's, at their own shape."""
        import numpy as np

        candid = int(row["alertId"])
        return np.stack(
            [self.client.array(candid=candid, kind=kind).astype(np.float32) for kind in self.kinds]
        )

    def next_page(self) -> None:
        """Show the next page."""
        self.show_page(self.grid.page + 1)

    def previous_page(self) -> None:
        """Show the previous page."""
        self.show_page(self.grid.page - 1)

    def open_viewer(self, identifier: str | int) -> None:
        """Open the full `CutoutViewer` of an id's object under the grid."""
        from fink_cutout_jupyter.widgets.viewer import CutoutViewer

        row = self._rows.get(str(identifier))
        if row is None or not str(row.get("status", "")).startswith("ok"):
            return
        if self.by == SOLAR_SYSTEM:
            viewer = CutoutViewer(
                ss_object_id=row["ssObjectId"], candid=int(row["alertId"]), client=self.client
            )
        else:
            viewer = CutoutViewer(row["objectId"], candid=int(row["alertId"]), client=self.client)
        self.viewer_box.children = [viewer]

    def _on_message(self, _, content: dict, buffers) -> None:
        event = content.get("event")
        if event == "label":
            self.label(content["id"], content.get("label"))
        elif event == "page":
            self.show_page(self.grid.page + int(content.get("delta", 0)))
        elif event == "open":
            self.open_viewer(content["id"])


def _tile(row: dict[str, Any], stamps, kinds: list[str]) -> dict[str, Any]:
    """One thumbnail: its id, status, caption, and pixels (float32, one buffer per kind)."""
    ok = str(row["status"]).startswith("ok")
    caption = [str(row["id"])]
    if row.get("designation"):
        caption[0] += f" ({row['designation']})"
    if row.get("alertId") is not None and str(row.get("status", "")).startswith("ok"):
        date = dt.datetime.fromisoformat(row["date"]).strftime("%Y-%m-%d %H:%M")
        magnitude = row.get("magnitude")
        brightness = f"{magnitude:.2f} {row.get('magnitude_unit') or ''}" if magnitude else "?"
        caption += [f"{date} · {row.get('filter') or '?'} · {brightness}".strip()]
    return {
        "id": str(row["id"]),
        "status": "not found" if str(row["status"]).startswith("not found") else row["status"],
        "caption": caption,
        "kinds": kinds,
        "width": int(stamps.shape[-1]),
        "height": int(stamps.shape[-2]),
        "stamps": [plane.tobytes() for plane in stamps] if ok else [],
    }


def _labels_note(labels: Labels) -> str:
    import html

    if labels.autosave is None:
        return ""
    if labels.unsaved is not None:
        return error_box(f"labels not saved to {labels.autosave}: {labels.unsaved}")
    loaded = f" ({labels.loaded} loaded from it)" if labels.loaded else ""
    return (
        '<div class="fink-labels-file" style="font-size:small;opacity:0.8">Labels are saved to '
        f"<code>{html.escape(str(labels.autosave))}</code> at every change{loaded}.</div>"
    )
