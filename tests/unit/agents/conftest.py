from __future__ import annotations

import pytest

from agents.llm import LLMClient, LLMProfile
from tests.fakellm import FakeLLM


@pytest.fixture
def fake():
    with FakeLLM() as server:
        yield server


@pytest.fixture(scope="module")
def client():
    with LLMClient(pool_size=64) as c:
        yield c


@pytest.fixture
def profile(fake):
    # Tiny delays keep retry tests fast; the policy's shape, not its scale, is under test.
    return LLMProfile(
        base_url=fake.url,
        model="fake-model",
        timeout=2.0,
        max_retries=3,
        retry_initial_delay=0.01,
        retry_max_delay=0.05,
    )


@pytest.fixture
def closed_url():
    """A base URL where nothing listens (a server that was just stopped)."""
    server = FakeLLM().start()
    url = server.url
    server.stop()
    return url
