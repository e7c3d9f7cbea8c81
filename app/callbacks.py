"""Signed HTTP callbacks: POST a JSON body, signed the Standard Webhooks way, to a URL we
are allowed to reach.

The function API (`check_url`, `signature`, `deliver`) is free of jobs so other
callers (agent task callbacks) can reuse it. Job callbacks are sent from a
job-end hook as a `legato.maintenance.deliver_callback` task; each try is recorded
in the job's events and a failed try schedules the next with exponential backoff.

Every delivery carries `webhook-id` (the same for every try of one message),
`webhook-timestamp` (Unix seconds of this try) and, when CALLBACK_SECRET is set,
`webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, so a
receiver can refuse a replayed or stale delivery (README "Security" shows how).
Where the request goes is agents.net's business: one resolution, public addresses
only (or CALLBACK_ALLOW_HOSTS), connected to the address that was checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from agents import net
from app.contract import DELIVER_CALLBACK, send

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
EVENT_HEADER = "X-Legato-Event"
RESULT_PREVIEW_CHARS = 16_000
# Receivers should refuse deliveries whose timestamp is further off than this.
TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"


class CallbackRefused(ValueError):
    """The URL may not be called (scheme, or a loopback/private/metadata target)."""


class CallbackFailed(RuntimeError):
    """The receiver did not accept the delivery (network error or non-2xx)."""


def check_url(url: str, allow_hosts: Iterable[str] = ()) -> str:
    """Refuse URLs that would let a job make the server call its own network.

    Every address the host resolves to must be public, unless the host (name, IP or
    CIDR) is allow-listed. Returns the URL unchanged when it may be called; raises
    CallbackFailed when the name does not resolve (today).
    """
    try:
        net.vet(url, allow_hosts)
    except net.Refused as exc:
        raise CallbackRefused(f"callback URL refused: {exc}") from None
    except net.Unresolvable as exc:
        raise CallbackFailed(str(exc)) from None
    return url


def checked_at_submit(url: str, allow_hosts: Iterable[str]) -> str:
    """For the API: a target on our own network is a 422 now rather than a refusal at
    delivery; a name that does not resolve today passes (delivery re-checks each try)."""
    from app.errors import Unprocessable

    try:
        return check_url(url, allow_hosts)
    except CallbackRefused as exc:
        raise Unprocessable(str(exc), code="callback_refused") from None
    except CallbackFailed:
        return url


def _key(secret: str) -> bytes:
    # A `whsec_` secret is base64, as Standard Webhooks libraries expect; any other
    # secret is used as its UTF-8 bytes.
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def signature(message_id: str, timestamp: int, body: bytes, secret: str) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    message_id: str, body: bytes, secret: str | None, timestamp: int | None = None
) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {ID_HEADER: message_id, TIMESTAMP_HEADER: str(stamp)}
    if secret:
        headers[SIGNATURE_HEADER] = signature(message_id, stamp, body, secret)
    return headers


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id = lowered.get(ID_HEADER, "")
    try:
        stamp = int(lowered.get(TIMESTAMP_HEADER, ""))
    except ValueError:
        return False
    if not message_id or abs((time.time() if now is None else now) - stamp) > tolerance:
        return False
    expected = signature(message_id, stamp, body, secret)
    # The header may list several space-separated signatures (key rotation).
    return any(
        hmac.compare_digest(expected, given) for given in lowered.get(SIGNATURE_HEADER, "").split()
    )


def deliver(
    url: str,
    payload: dict[str, Any],
    *,
    secret: str | None,
    allow_hosts: Iterable[str] = (),
    timeout: float = 10.0,
    tries: int = 1,
    event: str = "job.ended",
    message_id: str | None = None,
) -> int:
    """POST `payload` signed; returns the receiver's status. `tries` > 1 retries inline
    with exponential backoff (tenacity); the job callback task uses 1 and reschedules
    itself instead, so a worker slot is never held through long waits. Every try
    re-checks the URL, is re-signed with its own timestamp, and keeps `message_id`
    (default: a new id for this call) so receivers can drop duplicates."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    message_id = message_id or f"msg-{uuid.uuid4()}"
    allow = net.AllowList.parse(allow_hosts)

    @retry(
        stop=stop_after_attempt(max(tries, 1)),
        wait=wait_exponential(multiplier=0.5, max=30),
        retry=retry_if_exception_type(CallbackFailed),
        reraise=True,
    )
    def _post() -> int:
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: event,
            **signed_headers(message_id, body, secret),
        }
        try:
            # No redirects: a receiver has no reason to bounce a webhook elsewhere.
            resp = net.fetch("POST", url, allow=allow, data=body, headers=headers, timeout=timeout)
        except net.Refused as exc:
            raise CallbackRefused(f"callback URL refused: {exc}") from exc
        except (net.Unresolvable, requests.RequestException) as exc:
            raise CallbackFailed(f"{type(exc).__name__}: {exc}") from exc
        with resp:
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
    job = work.ended_job(job_id)
    url = job.callback_url if job is not None else None
    if not url:
        return
    work.event("callback_scheduled", job_id, status=status)
    work.after(lambda: send(DELIVER_CALLBACK, str(job_id), 1))
