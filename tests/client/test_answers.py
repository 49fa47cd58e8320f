"""Answers made into results: a success's body, a refusal's own text, a body not as agreed."""

import json

import pytest

from fink_cutout_jupyter.client.answers import (
    Answer,
    CutoutClientError,
    checked,
    json_of,
    not_as_agreed,
)


def test_a_success_is_handed_back_as_it_came():
    answer = Answer(200, {"Content-Type": "application/json"}, b"[1, 2]")
    assert checked(answer) is answer
    assert json_of(answer, list) == [1, 2]


def test_a_refusal_raises_the_servers_own_text_and_status():
    body = json.dumps({"status": "error", "text": "objectId: unknown 'ZTF99zzzzzzz'"}).encode()
    with pytest.raises(CutoutClientError) as raised:
        checked(Answer(404, {}, body))
    assert (raised.value.status, raised.value.text) == (404, "objectId: unknown 'ZTF99zzzzzzz'")
    assert str(raised.value) == "objectId: unknown 'ZTF99zzzzzzz' (HTTP 404)"


def test_an_in_process_refusal_does_not_claim_to_be_http():
    body = json.dumps({"text": "kind: unknown"}).encode()
    with pytest.raises(CutoutClientError) as raised:
        checked(Answer(400, {}, body, over_http=False))
    assert str(raised.value) == "kind: unknown"


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        (b'{"detail": "no text field"}', '{"detail": "no text field"}'),
        (b'["a list"]', '["a list"]'),
        (b"", "no message"),
        (b"x" * 400, "x" * 300),
        (b"\xff\xfe oops", "\ufffd\ufffd oops"),
    ],
)
def test_a_refusal_without_a_json_text_shows_the_start_of_its_body(body, text):
    with pytest.raises(CutoutClientError) as raised:
        checked(Answer(502, {}, body))
    assert (raised.value.status, raised.value.text) == (502, text)


def test_a_body_that_is_not_the_json_promised_is_the_clients_502():
    with pytest.raises(CutoutClientError, match="is not JSON") as raised:
        json_of(Answer(200, {}, b"<html>"), list)
    assert raised.value.status == 502
    with pytest.raises(CutoutClientError) as raised:
        json_of(Answer(200, {}, b'{"a": 1}'), list)
    assert raised.value.text == "the server's answer is a JSON dict, not a list"
    assert not_as_agreed("late").status == 502
