"""Callback URL checks and signatures (pure: IP literals need no resolver)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.callbacks import CallbackRefused, check_url, sign, verify


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
    [("http://127.0.0.1:9000/h", ["127.0.0.1"]), ("http://10.0.0.5/h", ["10.0.0.5"])],
)
def test_allow_list_lets_private_targets_through(url, allow):
    assert check_url(url, allow) == url


def test_signature_is_hmac_sha256_of_the_body():
    body = b'{"job_id":"x"}'
    expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert sign(body, "k") == f"sha256={expected}"
    assert sign(body, None) is None


@given(st.binary(max_size=200), st.text(min_size=1, max_size=30))
def test_verify_accepts_only_the_exact_body(body, secret):
    signature = sign(body, secret)
    assert verify(body, signature, secret)
    assert not verify(body + b"x", signature, secret)
    assert not verify(body, None, secret)
