"""Callback URL checks and signatures (pure: IP literals need no resolver)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.callbacks import CallbackRefused, check_url, signature, signed_headers, verify


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://127.9.9.9:8080/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/x",
        "http://192.168.1.1/x",
        "http://172.16.0.1/x",
        "http://0.0.0.0/x",
        "http://[fe80::1]/x",
        "http://metadata.google.internal/x",
        "http://instance-data/latest/meta-data",
        "http://100.64.0.1/x",
        "http://100.100.100.200/latest/meta-data",
        "http://192.0.0.8/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[::ffff:a9fe:a9fe]/x",
        "ftp://203.0.113.10/x",
        "file:///etc/passwd",
        "http:///nohost",
    ],
)
def test_internal_or_odd_targets_are_refused(url):
    with pytest.raises(CallbackRefused):
        check_url(url)


def test_public_address_is_allowed():
    assert check_url("https://8.8.8.8/hook") == "https://8.8.8.8/hook"


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://127.0.0.1:9000/h", ["127.0.0.1"]),
        ("http://10.0.0.5/h", ["10.0.0.5"]),
        ("http://10.0.0.5/h", ["10.0.0.0/24"]),
    ],
)
def test_allow_list_lets_private_targets_through(url, allow):
    assert check_url(url, allow) == url


def test_signature_is_standard_webhooks_v1():
    body = b'{"job_id":"x"}'
    digest = hmac.new(b"k", b"msg-1.1700000000." + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(digest).decode()
    assert signature("msg-1", 1700000000, body, "k") == expected
    headers = signed_headers("msg-1", body, "k", timestamp=1700000000)
    assert headers == {
        "webhook-id": "msg-1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": expected,
    }
    assert "webhook-signature" not in signed_headers("msg-1", body, None)


def test_a_whsec_secret_is_base64_as_standard_webhooks_libraries_expect():
    key = b"\x00\x01binary-key"
    secret = "whsec_" + base64.b64encode(key).decode()
    digest = hmac.new(key, b"m.5.{}", hashlib.sha256).digest()
    assert signature("m", 5, b"{}", secret) == "v1," + base64.b64encode(digest).decode()


@given(st.binary(max_size=200), st.text(min_size=1, max_size=30))
def test_verify_accepts_only_the_exact_message_while_fresh(body, secret):
    now = 1_700_000_000
    headers = signed_headers("msg-7", body, secret, timestamp=now)
    assert verify(body, headers, secret, now=now + 10)
    assert not verify(body + b"x", headers, secret, now=now)
    # Replays: the same signature with another id or timestamp does not verify.
    assert not verify(body, {**headers, "webhook-id": "msg-8"}, secret, now=now)
    later = {**headers, "webhook-timestamp": str(now + 1)}
    assert not verify(body, later, secret, now=now)
    # A delivery older (or newer) than five minutes is refused.
    assert not verify(body, headers, secret, now=now + 301)
    assert not verify(body, headers, secret, now=now - 301)
    assert not verify(body, {}, secret, now=now)


def test_the_readme_receiver_snippet_verifies_our_deliveries():
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme[readme.index("**Webhooks.**") :]
    code = section[section.index("```python") + len("```python") : section.index("```\n", 10)]
    scope: dict = {}
    exec(code, scope)  # the receiver a user would copy
    body = b'{"job_id":"j","status":"succeeded"}'
    for secret in ("plain-secret", "whsec_" + base64.b64encode(b"k3y").decode()):
        headers = signed_headers("job-j", body, secret)
        assert scope["verify"](body, headers, secret)
        assert not scope["verify"](body + b" ", headers, secret)
        stale = signed_headers("job-j", body, secret, timestamp=int(time.time()) - 301)
        assert not scope["verify"](body, stale, secret)
