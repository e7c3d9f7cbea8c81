"""Shared paths and loaders for the deployment-file tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
TIERS = ("fast", "auto", "quality", "reflection")
LEGATO_ENV = {
    "DATABASE_URL",
    "BROKER_URL",
    "LLM_BASE_URL",
    "LLM_API_KEY",
    "LLM_MODEL",
    "TIERS",
    "AUTH_MODE",
    "WORKER_CONCURRENCY",
    "LEGATO_DATA_DIR",
    "IDLE_SCALE_DOWN_MINUTES",
    "DOCKER_HOST",
}

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}; $$ escapes.
_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def variables(text: str) -> set[str]:
    """Names of the ${...} variables a Compose/stack file interpolates."""
    return {m.group(1) for m in _VAR.finditer(text)}


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose-style interpolation, enough for these files (raises on ${X:?err})."""

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        value = env.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return arg
            return value
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise KeyError(f"{name}: {arg}")
            return value
        return value or ""

    return _VAR.sub(sub, text).replace("$$", "$")


def env_example_names() -> set[str]:
    """Variable names in deploy/.env.example, set or commented out (# NAME=...)."""
    names = set()
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        m = re.match(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", line)
        if m:
            names.add(m.group(1))
    return names
