"""Which address the API may listen on: no unauthenticated admin on other interfaces."""

from __future__ import annotations

import pytest

from app.cli.serve import InsecureBind, bind_host, is_loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "192.168.0.10", "8.8.8.8"])
def test_no_auth_on_a_reachable_address_is_refused(host):
    with pytest.raises(InsecureBind, match="AUTH_MODE=none"):
        bind_host(host, auth_mode="none", allowed=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3"])
def test_an_explicit_insecure_opt_in_allows_it(host):
    assert bind_host(host, auth_mode="none", allowed=True) == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_is_always_fine(host):
    assert is_loopback(host)
    assert bind_host(host, auth_mode="none", allowed=False) == host


def test_defaults_follow_the_auth_mode():
    assert bind_host(None, auth_mode="none", allowed=False) == "127.0.0.1"
    assert bind_host(None, auth_mode="token", allowed=False) == "0.0.0.0"
    assert bind_host("0.0.0.0", auth_mode="token", allowed=False) == "0.0.0.0"


def test_a_name_that_does_not_resolve_is_not_loopback():
    assert not is_loopback("no-such-host.invalid")
