"""The client: cutouts from a /api/v1 server (found on its own) or from the lake in-process.

``from fink_cutout_jupyter.client import CutoutClient, CutoutClientError`` is the public face;
the modules behind it, each with one job, import down this list:

- `cutout_client`: `CutoutClient`, the API a notebook calls (alerts, limits, stamps, batch).
- `export`: many alerts' stamps written to one Parquet or .npy file, resumable.
- `iteration`: `iter_batches`, the stamps a batch at a time, of one shape (training loops).
- `batching`: many alerts in requests of bounded size, asked again while the server is busy.
- `discovery`: where a client without `url` or `lake` looks, and which token goes where.
- `transport`: a request over HTTP (token, deadline, reply cap) or in-process, to an `Answer`.
- `opener`: urllib's opener with a deadline for the whole request; the token kept on its origin.
- `answers`: an answer's body or its refusal as `CutoutClientError`.

Importing it loads the standard library only (numpy, pyarrow, astropy and aiohttp come with the
first call that needs them).
"""

from fink_cutout_jupyter.client.answers import CutoutClientError
from fink_cutout_jupyter.client.cutout_client import CutoutClient
from fink_cutout_jupyter.client.discovery import discover
from fink_cutout_jupyter.client.export import ExportSummary
from fink_cutout_jupyter.client.iteration import iter_batches
from fink_cutout_jupyter.client.transport import MAX_ALERT_REPLY_BYTES, MAX_REPLY_BYTES

__all__ = [
    "MAX_ALERT_REPLY_BYTES",
    "MAX_REPLY_BYTES",
    "CutoutClient",
    "CutoutClientError",
    "ExportSummary",
    "discover",
    "iter_batches",
]
