"""Settings -> the LLM profile a tier's calls use."""

from __future__ import annotations

from agents.llm import LLMProfile
from app.config import Settings


def profile_for(settings: Settings, tier: str, model: str | None = None) -> LLMProfile:
    endpoint = settings.tier_endpoint(tier)
    return LLMProfile(
        base_url=endpoint.base_url,
        model=model or endpoint.model,
        api_key=endpoint.api_key,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_max_retries,
        retry_initial_delay=settings.llm_retry_initial_delay,
        retry_max_delay=settings.llm_retry_max_delay,
        tier=tier,
    )
