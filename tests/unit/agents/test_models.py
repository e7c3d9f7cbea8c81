"""Model resolution (pure) and discovery with its cache (against the fake server)."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from agents.llm import LLMProfile
from agents.models import ModelCache, resolve_model


def test_wanted_model_when_served():
    assert resolve_model("big", "small", ["small", "big"]) == ("big", None)


def test_tier_default_when_nothing_else_wanted():
    assert resolve_model(None, "small", ["small", "big"]) == ("small", None)


def test_falls_back_to_tier_default_with_warning():
    model, warning = resolve_model("huge", "small", ["small", "big"])
    assert model == "small"
    assert "'huge'" in warning and "tier default 'small'" in warning


def test_falls_back_to_first_served_with_warning():
    model, warning = resolve_model("huge", "tiny", ["big", "small"])
    assert model == "big"
    assert "'huge'" in warning and "'tiny'" in warning and "first served model 'big'" in warning


def test_tier_default_not_served():
    model, warning = resolve_model(None, "tiny", ["big"])
    assert model == "big"
    assert "'tiny'" in warning


def test_unknown_served_list_keeps_the_wanted_model():
    assert resolve_model("huge", "small", []) == ("huge", None)
    assert resolve_model(None, "small", None) == ("small", None)


def test_ollama_latest_tag_is_the_same_model():
    assert resolve_model("llama3", "x", ["llama3:latest"]) == ("llama3:latest", None)
    assert resolve_model("qwen:latest", "x", ["qwen"]) == ("qwen", None)
    assert resolve_model("qwen:7b", None, ["qwen:14b"])[1] is not None


names = st.text("abcdefgh-.", min_size=1, max_size=6)


@given(
    wanted=st.none() | names,
    default=st.none() | names,
    served=st.lists(names, min_size=1, max_size=5),
)
def test_resolution_properties(wanted, default, served):
    model, warning = resolve_model(wanted, default, served)
    assert model in served
    target = wanted or default
    # No warning exactly when what was asked for is what we call.
    assert (warning is None) == (target is not None and target in served)
    if warning is None:
        assert model == target
    elif wanted and default in served:
        assert model == default
    elif not (target and default and default in served):
        assert model == served[0]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_cache_serves_within_ttl_and_refetches_after(fake, client, profile):
    clock = Clock()
    cache = ModelCache(ttl=60, clock=clock)
    fake.models = ["a"]
    assert cache.served(client, profile).models == ["a"]
    fake.models = ["a", "b"]
    clock.now += 59
    assert cache.served(client, profile).models == ["a"]
    assert len(fake.requests) == 1
    clock.now += 2
    entry = cache.served(client, profile)
    assert entry.models == ["a", "b"] and entry.healthy
    assert len(fake.requests) == 2


def test_cache_is_per_base_url(fake, client, profile):
    cache = ModelCache()
    cache.put("http://other/v1", ["x"])
    assert cache.served(client, profile).models == ["fake-model"]
    assert cache.get("http://other/v1/").models == ["x"]


def test_cache_remembers_failures_briefly(client, closed_url):
    clock = Clock()
    cache = ModelCache(ttl=300, error_ttl=10, clock=clock)
    profile = LLMProfile(closed_url)
    entry = cache.served(client, profile)
    assert entry.models == [] and not entry.healthy and entry.unreachable
    assert cache.get(profile) is entry
    clock.now += 11
    assert cache.get(profile) is None
    assert cache.peek(profile) is entry


def test_resolve_through_cache_against_the_endpoint(fake, client, profile):
    fake.ollama_only = True
    fake.models = ["llama3:latest", "mistral:latest"]
    cache = ModelCache()
    tier = dataclasses.replace(profile, model="mistral")
    assert cache.resolve(client, tier, "llama3") == ("llama3:latest", None)
    model, warning = cache.resolve(client, tier, "gpt-4o")
    assert model == "mistral:latest" and "gpt-4o" in warning
    # Unknown served list (endpoint down): call what was asked for, no warning.
    cache.invalidate()
    fake.stop()
    assert cache.resolve(client, tier, "gpt-4o") == ("gpt-4o", None)


def test_demo_profile_resolves_to_demo(client):
    assert ModelCache().resolve(client, LLMProfile(None), "whatever") == ("demo", None)
