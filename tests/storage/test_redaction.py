"""Secrets blanked out of text: query values named as secret, and a request's own credentials."""

from fink_cutout_jupyter.storage.redaction import SECRET, scrub_secrets


def test_scrubbing_keeps_what_is_not_secret():
    text = "GET /x?objectId=ZTF1&token=abc&kind=All HTTP/1.1 and a token of alice"
    assert scrub_secrets(text) == (
        "GET /x?objectId=ZTF1&token=[secret]&kind=All HTTP/1.1 and a token of alice"
    )
    assert scrub_secrets("b'GET /?auth_token=abcdef...'") == "b'GET /?auth_token=[secret]'"


def test_a_requests_own_credentials_are_blanked_wherever_they_appear():
    text = "Authorization: token tok-123; cookie=abc-long-cookie; again tok-123"
    assert scrub_secrets(text, secrets=["tok-123", "", "abc-long-cookie"]) == (
        f"Authorization: token {SECRET}; cookie={SECRET}; again {SECRET}"
    )


def test_a_secret_inside_a_longer_one_leaves_nothing_of_the_longer():
    assert scrub_secrets("key=abcdef", secrets=["abc", "abcdef"]) == f"key={SECRET}"
    assert scrub_secrets("x abcdef y", secrets=["abc", "abcdef"]) == f"x {SECRET} y"


def test_parameter_names_are_matched_by_fragment_and_case():
    text = "/p?X-Auth-Header=v1&KEYRING=v2&xsrf=v3&keep=v4;session_id=v5#frag"
    assert scrub_secrets(text, keys=["session"]) == (
        f"/p?X-Auth-Header={SECRET}&KEYRING={SECRET}&xsrf={SECRET}&keep=v4;session_id={SECRET}#frag"
    )
