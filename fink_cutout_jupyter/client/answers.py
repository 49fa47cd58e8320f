"""What the client makes of an answer: its body when it is a success, else `CutoutClientError`.

Every transport (HTTP or in-process) hands back an `Answer`; `checked` turns a refusal into a
`CutoutClientError` carrying the server's own message, `json_of` also checks that the body is the
JSON the contract promises. An answer that is not as the contract says is a 502 of the client's.
Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from email.message import Message


class CutoutClientError(Exception):
    """A request the server (or the in-process API) refused, with its message.

    Attributes
    ----------
    status : int
        HTTP status (400 bad parameter, 403 outside the lake, 404 unknown, 503 lake down or
        server unreachable, ...); the client's own: 502 an answer not as the contract says or
        beyond the reply cap, 504 no complete answer within the timeout.
    text : str
        The server's explanation.
    """

    def __init__(self, status: int, text: str, over_http: bool = True) -> None:
        # In-process answers made no request: their status is the API's, not HTTP's.
        super().__init__(f"{text} (HTTP {status})" if over_http else text)
        self.status = status
        self.text = text


@dataclass(frozen=True)
class Answer:
    """One answer of a transport: its status, headers and whole body."""

    status: int
    headers: Mapping[str, str] | Message  # urllib's headers are an email Message
    body: bytes
    over_http: bool = True


def checked(answer: Answer) -> Answer:
    """`answer` if it is a success (200), else its refusal raised with the server's text."""
    if answer.status == 200:
        return answer
    try:
        text = json.loads(answer.body)["text"]
    except (ValueError, KeyError, TypeError):
        text = answer.body[:300].decode(errors="replace") or "no message"
    raise CutoutClientError(answer.status, text, answer.over_http)


def not_as_agreed(problem: str) -> CutoutClientError:
    """The client's 502 for an answer that breaks the contract (`problem` says how)."""
    return CutoutClientError(502, f"the server's answer is {problem}")


def json_of(answer: Answer, expected: type) -> Any:
    """The JSON of a successful answer, which must be an `expected` (list, dict)."""
    body = checked(answer).body
    try:
        value = json.loads(body)
    except ValueError as error:
        raise not_as_agreed(f"not JSON ({error}): {body[:80]!r}") from error
    if not isinstance(value, expected):
        raise not_as_agreed(f"a JSON {type(value).__name__}, not a {expected.__name__}")
    return value
