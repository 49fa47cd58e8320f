"""One request's opener: a deadline that shuts its sockets, credentials kept on their origin."""

import http.client
import socket
import urllib.request

import pytest

from fink_cutout_jupyter.client.opener import Deadline, SameOriginCredentials, opener


def test_a_read_blocked_past_the_deadline_ends_when_its_socket_is_shut():
    """The peer never sends: the read ends at the deadline (the socket shut), not never."""
    reader, peer = socket.socketpair()
    with reader, peer, Deadline(0.2) as deadline:
        reader.settimeout(30)  # a failure rather than a hang if the deadline never comes
        deadline.watch(reader)
        assert reader.recv(1) == b""  # end of stream: shut by the deadline's timer
        assert deadline.expired
        assert deadline.remaining() <= 0


def test_a_socket_watched_after_the_deadline_is_shut_at_once():
    first, first_peer = socket.socketpair()
    later, later_peer = socket.socketpair()
    with first, first_peer, later, later_peer, Deadline(0.05) as deadline:
        first.settimeout(30)
        deadline.watch(first)
        assert first.recv(1) == b""  # the deadline has passed
        deadline.watch(later)
        later.settimeout(10)
        assert later.recv(1) == b""


def test_no_connection_is_made_once_the_deadline_has_passed():
    deadline = Deadline(-1)
    connection = deadline.connection_class(http.client.HTTPConnection)("127.0.0.1", 9)
    with pytest.raises(TimeoutError, match="deadline passed before connecting"):
        connection.connect()


@pytest.mark.parametrize(
    ("url", "to", "kept"),
    [
        ("http://lake.example/api", "http://lake.example:80/api/v1", True),
        ("https://lake.example/api", "https://LAKE.example:443/other", True),
        ("http://lake.example/api", "http://elsewhere.example/api", False),
        ("http://lake.example/api", "https://lake.example/api", False),
        ("http://lake.example/api", "http://lake.example:8080/api", False),
    ],
)
def test_a_redirect_keeps_the_credentials_only_on_the_same_origin(url, to, kept):
    request = urllib.request.Request(
        url, headers={"Authorization": "token T", "Cookie": "c=1", "Accept": "image/png"}
    )
    followed = SameOriginCredentials().redirect_request(request, None, 302, "Found", {}, to)
    assert followed.full_url == to
    assert followed.get_header("Accept") == "image/png"
    assert followed.has_header("Authorization") is kept
    assert followed.has_header("Cookie") is kept


def test_the_opener_handles_redirects_with_the_same_origin_rule():
    handlers = opener(Deadline(1)).handlers
    assert any(isinstance(handler, SameOriginCredentials) for handler in handlers)
    assert not any(type(handler) is urllib.request.HTTPRedirectHandler for handler in handlers), (
        "urllib's own redirect handler would carry the token anywhere"
    )
