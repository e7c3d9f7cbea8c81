"""Signed HTTP callbacks: POST a JSON body, HMAC-signed, to a URL we are allowed to reach.

The function API (`check_url`, `sign`, `deliver`) is free of jobs so other
callers (agent task callbacks) can reuse it. Job callbacks are sent from a
job-end hook as a `legato.maintenance.deliver_callback` task; each try is recorded
in the job's events and a failed try schedules the next with exponential backoff.

Receivers verify `X-Legato-Signature: sha256=<hex>` = HMAC-SHA256(secret, raw body).
`X-Legato-Timestamp` is inside the signed body too, as `sent_at`, for replay checks.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import select
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from app.contract import DELIVER_CALLBACK, send

SIGNATURE_HEADER = "X-Legato-Signature"
EVENT_HEADER = "X-Legato-Event"
RESULT_PREVIEW_CHARS = 16_000
# Cloud metadata endpoints that are not caught by the private/link-local checks.
METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


class CallbackRefused(ValueError):
    """The URL may not be called (scheme, or a loopback/private/metadata target)."""


class CallbackFailed(RuntimeError):
    """The receiver did not accept the delivery (network error or non-2xx)."""


def check_url(url: str, allow_hosts: Iterable[str] = ()) -> str:
    """Refuse URLs that would let a job make the server call its own network.

    Every address the host resolves to must be public, unless the host (name or
    IP) is allow-listed. Returns the URL unchanged when it may be called.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused("callback URL must be http(s) with a host")
    host = parts.hostname.lower().rstrip(".")
    allowed = {h.lower() for h in allow_hosts}
    if host in allowed:
        return url
    if host in METADATA_HOSTS:
        raise CallbackRefused(f"callback host {host} is a metadata service")
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise CallbackFailed(f"cannot resolve {host}: {exc}") from exc
    for info in infos:
        addr = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if str(addr) in allowed:
            continue
        if (
            addr.is_loopback
            or addr.is_link_local
            or addr.is_private
            or addr.is_reserved
            or addr.is_multicast
            or addr.is_unspecified
        ):
            raise CallbackRefused(f"callback host {host} resolves to a non-public address")
    return url


def sign(body: bytes, secret: str | None) -> str | None:
    if not secret:
        return None
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str | None, secret: str) -> bool:
    expected = sign(body, secret)
    return bool(signature) and hmac.compare_digest(expected or "", signature or "")


def deliver(
    url: str,
    payload: dict[str, Any],
    *,
    secret: str | None,
    allow_hosts: Iterable[str] = (),
    timeout: float = 10.0,
    tries: int = 1,
    event: str = "job.ended",
) -> int:
    """POST `payload` signed; returns the receiver's status. `tries` > 1 retries inline
    with exponential backoff (tenacity); the job callback task uses 1 and reschedules
    itself instead, so a worker slot is never held through long waits."""
    check_url(url, allow_hosts)
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    headers = {"Content-Type": "application/json", EVENT_HEADER: event}
    signature = sign(body, secret)
    if signature:
        headers[SIGNATURE_HEADER] = signature

    @retry(
        stop=stop_after_attempt(max(tries, 1)),
        wait=wait_exponential(multiplier=0.5, max=30),
        retry=retry_if_exception_type(CallbackFailed),
        reraise=True,
    )
    def _post() -> int:
        try:
            # No redirects: a 30x to an internal address would bypass check_url.
            resp = requests.post(
                url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise CallbackFailed(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= resp.status_code < 300:
            raise CallbackFailed(f"HTTP {resp.status_code} from receiver")
        return resp.status_code

    return _post()


def job_payload(job) -> dict[str, Any]:
    return {
        "job_id": str(job.id),
        "status": job.status,
        "piece": job.piece_name,
        "attempt": job.attempt,
        "result": (job.result or "")[:RESULT_PREVIEW_CHARS] or None,
        "error_summary": job.error_summary,
        "abort_reason": job.abort_reason,
        "tokens_in": job.tokens_in,
        "tokens_out": job.tokens_out,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "sent_at": datetime.now(UTC).isoformat(),
    }


def schedule_callback(work, job_id: uuid.UUID, status: str) -> None:
    """Job-end hook: a job with a callback_url has its result delivered after commit."""
    from app.models import Job

    url = work.conn.execute(select(Job.callback_url).where(Job.id == job_id)).scalar()
    if not url:
        return
    work.event("callback_scheduled", job_id, status=status)
    work.after(lambda: send(DELIVER_CALLBACK, str(job_id), 1))
