"""Model discovery and resolution per tier endpoint.

Resolution order is movement model → agent model → tier default; the caller passes the
first one that is set as ``wanted``. When the endpoint does not serve it we fall back
rather than fail the movement, and return a warning the caller records on the movement
run and in the job events.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agents.llm import LLMClient, LLMError, LLMProfile

__all__ = ["ModelCache", "ServedModels", "resolve_model"]


def _find(name: str, served: list[str]) -> str | None:
    if name in served:
        return name
    # Ollama tags every model; "llama3" and "llama3:latest" are the same thing to a user.
    if ":" not in name and f"{name}:latest" in served:
        return f"{name}:latest"
    if name.endswith(":latest") and name[: -len(":latest")] in served:
        return name[: -len(":latest")]
    return None


def resolve_model(
    wanted: str | None, tier_default: str | None, served: Iterable[str] | None
) -> tuple[str, str | None]:
    """Pick the model to call: ``(model, warning or None)``.

    ``served`` empty or None means "unknown" (discovery failed or was not tried): the
    wanted model is used as is, since refusing to call would turn a flaky probe into
    failed jobs.
    """
    served_list = [m for m in (served or []) if m]
    target = wanted or tier_default
    if not target and not served_list:
        raise ValueError("no model wanted, no tier default and no served model known")
    if not served_list:
        return target or "", None  # type: ignore[return-value]
    if target:
        hit = _find(target, served_list)
        if hit is not None:
            return hit, None
    if wanted and tier_default and tier_default != wanted:
        hit = _find(tier_default, served_list)
        if hit is not None:
            return hit, (
                f"model {wanted!r} is not served by the endpoint; using the tier default {hit!r}"
            )
    first = served_list[0]
    if target:
        what = f"model {target!r} is not served by the endpoint"
        if wanted and tier_default and tier_default != wanted:
            what += f" (nor the tier default {tier_default!r})"
    else:
        what = "no model configured"
    return first, f"{what}; using the first served model {first!r}"


@dataclass(frozen=True)
class ServedModels:
    models: list[str]
    fetched_at: float  # monotonic clock
    error: str | None = None  # why the last probe failed (models then empty)
    unreachable: bool = False

    @property
    def healthy(self) -> bool:
        return self.error is None


class ModelCache:
    """Served models per base URL, refreshed after ``ttl`` seconds.

    A failed probe is cached too (for ``error_ttl``), so a dead endpoint is not asked
    again by every movement that starts while it is down.
    """

    def __init__(
        self,
        ttl: float = 300.0,
        error_ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.error_ttl = error_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, ServedModels] = {}

    @staticmethod
    def _key(profile_or_url: LLMProfile | str | None) -> str:
        url = profile_or_url.base_url if isinstance(profile_or_url, LLMProfile) else profile_or_url
        return (url or "demo").rstrip("/")

    def get(self, profile_or_url: LLMProfile | str | None) -> ServedModels | None:
        """The cached entry if still fresh, else None."""
        key = self._key(profile_or_url)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return None
        ttl = self.ttl if entry.healthy else self.error_ttl
        if self._clock() - entry.fetched_at >= ttl:
            return None
        return entry

    def peek(self, profile_or_url: LLMProfile | str | None) -> ServedModels | None:
        """The last entry whatever its age (for status pages such as ``/api/workers``)."""
        with self._lock:
            return self._entries.get(self._key(profile_or_url))

    def put(
        self,
        profile_or_url: LLMProfile | str | None,
        models: list[str],
        *,
        error: str | None = None,
        unreachable: bool = False,
    ) -> ServedModels:
        entry = ServedModels(list(models), self._clock(), error, unreachable)
        with self._lock:
            self._entries[self._key(profile_or_url)] = entry
        return entry

    def invalidate(self, profile_or_url: LLMProfile | str | None = None) -> None:
        with self._lock:
            if profile_or_url is None:
                self._entries.clear()
            else:
                self._entries.pop(self._key(profile_or_url), None)

    def refresh(self, client: LLMClient, profile: LLMProfile) -> ServedModels:
        """Probe now and cache the outcome; never raises for an endpoint failure."""
        try:
            models = client.list_models(profile)
        except LLMError as exc:
            return self.put(profile, [], error=exc.reason, unreachable=exc.unreachable)
        return self.put(profile, models)

    def served(self, client: LLMClient, profile: LLMProfile) -> ServedModels:
        # Concurrent misses may probe twice; a cheap GET is better than holding a lock
        # across network I/O and serialising every worker thread behind one slow probe.
        return self.get(profile) or self.refresh(client, profile)

    def resolve(
        self,
        client: LLMClient,
        profile: LLMProfile,
        wanted: str | None,
    ) -> tuple[str, str | None]:
        """``resolve_model`` against this profile's endpoint, tier default = profile.model."""
        if profile.is_demo:
            return "demo", None
        entry = self.served(client, profile)
        return resolve_model(wanted, profile.model, entry.models)
