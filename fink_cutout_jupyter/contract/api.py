"""The HTTP contract of /api/v1, without a web framework: parameters in, `Reply` out.

Both doors (the Jupyter server extension and the standalone aiohttp service) turn a request into
``handle(route, params, if_none_match)`` run in a thread pool, and the `Reply` back into a response.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from fink_cutout_jupyter.contract.batch import Batches, is_batch, parse_batch_request
from fink_cutout_jupyter.contract.batch_formats import encode_batch
from fink_cutout_jupyter.contract.batch_memory import batch_bytes, give_back_memory
from fink_cutout_jupyter.contract.formats import encode, finite, iso_date
from fink_cutout_jupyter.contract.parameters import (
    ALERT_PARAMETERS,
    CUTOUT_PARAMETERS,
    HISTORY_PARAMETERS,
    LIMIT_PARAMETERS,
    CutoutRequest,
    ObjectTarget,
    check,
    describe,
    parse_cutout_request,
    parse_object_target,
)
from fink_cutout_jupyter.contract.replies import Reply, error_reply, json_reply, no_route_reply
from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.errors import BadParameter, CutoutError, NotFound, ServerBusy
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.locations import AlertLocation
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import Survey

logger = logging.getLogger(__name__)

# The names of an object id in a /cutouts request.
_OBJECT_NAMES = frozenset({"objectId", "diaObjectId"})
# Stored, but revalidated on every use: a 304 costs one lookup and one stat, and a rewritten file
# changes the ETag, so no cache can keep serving what the lake no longer holds.
REVALIDATE = "private, no-cache"


class CutoutAPI:
    """The /api/v1 contract over a lake and its alert index.

    Parameters
    ----------
    lake : Lake or str
        The data lake (local directory, ``hdfs://`` or ``s3://`` URI).
    index_root : str or None
        Where the alert index lives (default: ``_cutout_index`` inside the lake).
    survey : Survey or None
        The lake's survey; ``None`` takes it from the index, or from each file's columns.
    """

    def __init__(
        self,
        lake: Lake | str,
        index_root: str | None = None,
        survey: Survey | None = None,
        base_url: str = "/",
    ) -> None:
        self.lake = lake if isinstance(lake, Lake) else Lake(lake)
        self.index = AlertIndex(self.lake, index_root or None)
        self.reader = CutoutReader(self.lake, survey, self.index)
        self.batches = Batches(self.index, self.reader)
        self.survey = survey
        self.base_url = base_url

    def handle(
        self,
        route: str,
        params: Mapping[str, Any],
        if_none_match: str | None = None,
        body: bool = False,
    ) -> Reply:
        """Answer one request; never raises (errors become JSON replies).

        `body`: the parameters came as a POST's JSON object (see `parse_cutout_request`).
        """
        try:
            if route == "cutouts":
                if not params:
                    return json_reply({"args": [describe(p) for p in CUTOUT_PARAMETERS]})
                if body and is_batch(params):
                    return self.batch(params)
                return self.cutouts(params, if_none_match, body)
            if route == "alerts":
                return self.alerts(params)
            if route == "history":
                return self.history(params, if_none_match)
            if route == "limits":
                return self.limits(params)
            if route == "openapi.json":
                from fink_cutout_jupyter.contract.openapi import openapi_document

                return json_reply(openapi_document(self.base_url, self.known_survey()))
            if route == "health":
                from fink_cutout_jupyter.contract.health import health_reply

                return health_reply(self)
            return no_route_reply(route)
        except CutoutError as error:
            return error_reply(error.status, str(error))
        except OSError as error:
            logger.warning("lake unavailable: %s", error)
            text = self.lake.scrub(str(error))
            return error_reply(503, f"the lake's filesystem is unavailable: {text}")
        except Exception:
            logger.exception("unexpected error answering %s %s", route, dict(params))
            return error_reply(500, "internal error; the server log has the details")

    def cutouts(
        self, params: Mapping[str, Any], if_none_match: str | None = None, body: bool = False
    ) -> Reply:
        """Stamps of one alert as array, FITS or PNG.

        The ETag covers the file's identity (and the alert the index chose), so a 304 needs one
        index lookup and one stat, and no read of the lake's pages. An alert read through the
        index carries the identity the reader checked before reading: its ETag names that one,
        with no second stat.
        """
        survey = self.survey
        if survey is None and "hdfsPath" not in params and params.keys() & _OBJECT_NAMES:
            survey = self.known_survey()  # the index's: its ids checked here, named as given
        request = parse_cutout_request(params, survey, body, self.lake)
        location = self._locate(request) if request.path is None else None
        path = location.path if location is not None else request.path
        assert path is not None  # `parse_cutout_request` gives a path, or an id to locate
        alert_id = location and location.alert_id
        etag = None
        if location is None or if_none_match:
            try:
                identity = self.reader.identity(path)
            except NotFound as gone:
                if location is None:
                    location = self._located_instead(request, path, gone)
                    alert_id = location.alert_id
                identity = None  # the file is gone: the read looks for the alert again
            if identity is not None:
                etag = request.etag(path, tuple(identity), alert_id)
                if if_none_match and etag in {tag.strip() for tag in if_none_match.split(",")}:
                    return Reply(304, b"", {"ETag": etag, "Cache-Control": REVALIDATE})
        if location is None:
            alert = self.reader.read(path, request.object_id, request.alert_id, request.kinds)
        else:
            alert = self.reader.read_location(location, request.kinds)
            if alert.file_identity is not None:  # of the file read (moved: not the indexed one)
                etag = request.etag(alert.path, tuple(alert.file_identity), alert_id)
        assert etag is not None  # a read by location always checks the file's identity
        cache = {"ETag": etag, "Cache-Control": REVALIDATE}
        encoded = encode(alert, request.fmt, request.render)
        headers = {"Content-Type": encoded.media_type}
        if request.fmt == "FITS":
            headers["Content-Disposition"] = f'attachment; filename="{encoded.filename}"'
        return Reply(200, encoded.body, headers | cache)

    def batch(self, params: Mapping[str, Any]) -> Reply:
        """Stamps of many alerts (a POST whose ids are lists): Arrow IPC, JSON or FITS."""
        request = parse_batch_request(params, self.known_survey())
        try:
            with self.batches.budget.reserve(batch_bytes(request)):
                items = self.batches.read(request)
                encoded = encode_batch(items, request, release=True)
                del items
                give_back_memory()
        except ServerBusy as error:
            reply = error_reply(error.status, str(error))
            reply.headers["Retry-After"] = str(error.retry_after)
            return reply
        headers = {"Content-Type": encoded.media_type, "Cache-Control": "no-store"}
        if encoded.filename:
            headers["Content-Disposition"] = f'attachment; filename="{encoded.filename}"'
        return Reply(200, encoded.body, headers)

    def alerts(self, params: Mapping[str, Any]) -> Reply:
        """Every alert of an object (``objectId`` or ``diaObjectId``; or of a solar-system object:
        ``ssObjectId``), oldest first."""
        target = parse_object_target(params, ALERT_PARAMETERS, self.known_survey())
        locations = self._indexed(target)
        survey = {"survey": self.index.survey.name} if locations else {}
        rows = [
            {
                "objectId": location.object_id,
                "alertId": location.alert_id,
                "jd": finite(location.jd),
                "date": iso_date(location.jd),
                **_shown(location.properties),
                **survey,
                "hdfsPath": location.path,
            }
            for location in locations
        ]
        # An alert stored without a finite time is listed last, its jd and date null.
        rows.sort(key=lambda row: row["jd"] is None)
        return json_reply(rows, {"Cache-Control": "no-cache"})

    def history(self, params: Mapping[str, Any], if_none_match: str | None = None) -> Reply:
        """An object's light curve: its latest alert's history merged with the index's alerts
        (`cutouts.history.object_history`); ``objectId``, ``diaObjectId`` or ``ssObjectId``.

        The body depends on the index and the latest alert's row: it is made again each time,
        and its ETag (a digest of the body) spares sending it when nothing changed.
        """
        from fink_cutout_jupyter.cutouts.history import object_history

        target = parse_object_target(params, HISTORY_PARAMETERS, self.known_survey())
        indexed = self._indexed(target)
        survey = self.reader.survey or self.index.survey
        reply = json_reply(object_history(self.lake, indexed[-1], survey, indexed))
        etag = '"' + hashlib.sha256(reply.body).hexdigest()[:32] + '"'
        cache = {"ETag": etag, "Cache-Control": REVALIDATE}
        if if_none_match and etag in {tag.strip() for tag in if_none_match.split(",")}:
            return Reply(304, b"", cache)
        return Reply(reply.status, reply.body, reply.headers | cache)

    def close(self) -> None:
        """Close the files kept open for a remote lake, and the index's."""
        self.reader.files.close()
        self.index.close()

    def limits(self, params: Mapping[str, Any]) -> Reply:
        """The object's upper limits from its latest alert's history (ZTF), oldest first."""
        from fink_cutout_jupyter.cutouts.history import upper_limits

        check(params, LIMIT_PARAMETERS)
        object_id = params.get("objectId")
        if object_id is None:
            raise BadParameter("objectId: missing; e.g. objectId=ZTF24abssjsb")
        latest = self.index.latest(object_id)
        survey = self.reader.survey or self.index.survey
        rows = upper_limits(self.lake, latest, survey)
        for row in rows:
            row["date"] = iso_date(row["jd"])
        return json_reply(rows, {"Cache-Control": "no-cache"})

    def known_survey(self) -> Survey | None:
        """The lake's survey if configured or indexed (None while nothing says)."""
        if self.survey is not None:
            return self.survey
        try:
            return self.index.survey
        except CutoutError:
            return None

    def _located_instead(self, request: CutoutRequest, path: str, gone: NotFound) -> AlertLocation:
        """The indexed alert a request names by its alert id and a removed live night's file
        (Fink's portal sends the path it stored while the night was live); `gone` otherwise."""
        if request.alert_id is None or self.lake.online_night_of(path) is None:
            raise gone
        try:
            location = self.index.alert(request.alert_id)
        except NotFound:
            raise gone from None
        return _of_the_object(request, location)

    def _locate(self, request: CutoutRequest) -> AlertLocation:
        """The indexed alert a request without a file names."""
        if request.alert_id is None:
            if request.ss_object_id is not None:
                return self.index.solar_system_alerts(request.ss_object_id)[-1]
            if request.object_id is None:  # `parse_cutout_request` refuses it first
                raise BadParameter("objectId: missing; give objectId or candid")
            return self.index.latest(request.object_id)
        return _of_the_object(request, self.index.alert(request.alert_id))

    def _indexed(self, target: ObjectTarget) -> list[AlertLocation]:
        """The indexed alerts of an object or a solar-system object, oldest first."""
        if target.ss_object_id is not None:
            return self.index.solar_system_alerts(target.ss_object_id)
        assert target.object_id is not None  # `parse_object_target` gives one of the two
        return self.index.alerts(target.object_id)


def _of_the_object(request: CutoutRequest, location: AlertLocation) -> AlertLocation:
    """The location of the alert a request names by id, if of the object it names (if any)."""
    if request.object_id is not None and location.object_id != request.object_id:
        raise NotFound(f"candid: alert {request.alert_id} is not an alert of {request.object_id}")
    ss_object_id = str(location.properties.get("ss_object_id"))  # text in the index
    if request.ss_object_id is not None and ss_object_id != str(request.ss_object_id):
        raise NotFound(
            f"candid: alert {request.alert_id} is not an alert of ssObjectId {request.ss_object_id}"
        )
    return location


# An alert's display fields under the names the API gives them (the others as they are).
_API_NAMES = {"ss_object_id": "ssObjectId"}


def _shown(properties: Mapping[str, Any]) -> dict[str, Any]:
    """An alert's display fields (`AlertLocation.properties`) as /alerts lists them."""
    return {_API_NAMES.get(name, name): value for name, value in properties.items()}
