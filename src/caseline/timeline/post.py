"""`caseline export --post URL`: send the export JSON, retrying what a retry can fix.

Retried: connection errors and timeouts, HTTP 429 and 5xx (honouring `Retry-After`, capped); never other
4xx (the receiver rejected the document: sending it again would not change that). Waits back off
exponentially with jitter. Messages name the method, the URL without its query (it may hold a token)
and the status.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, retry_if_result, stop_after_attempt

from caseline.errors import VendorError
from caseline.timeline.export import IncidentExport

__all__ = ["PostResult", "post_export", "safe_url"]

ATTEMPTS = 5
_MAX_WAIT_S = 30.0
_sleep = time.sleep  # tests replace this to record waits instead of sleeping


@dataclass(frozen=True, slots=True)
class PostResult:
    status: int
    attempts: int
    url: str


def safe_url(url: str) -> str:
    """scheme://host[:port]/path: no credentials, no query, no fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _retryable(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


def _wait(state: RetryCallState) -> float:
    """`Retry-After` seconds when the receiver sends them (capped), else 0.5 s · 2^n plus jitter."""
    outcome = state.outcome
    if outcome is not None and not outcome.failed:
        header = outcome.result().headers.get("retry-after", "")
        if header.strip().isdigit():
            return min(float(header), _MAX_WAIT_S)
    base: float = min(0.5 * 2 ** (state.attempt_number - 1), _MAX_WAIT_S)
    return base + random.uniform(0, base / 2)


def post_export(
    url: str,
    export: IncidentExport,
    *,
    attempts: int = ATTEMPTS,
    timeout_s: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> PostResult:
    """POST the export (validated against its model first); `VendorError` when it is not accepted."""
    body = export.to_json(indent=None).encode("utf-8")
    IncidentExport.model_validate_json(body)  # the model is the schema's source: what we send must pass it
    shown = safe_url(url)
    counter = {"n": 0}

    def send(client: httpx.Client) -> httpx.Response:
        counter["n"] += 1
        return client.post(
            url, content=body, headers={"content-type": "application/json", "user-agent": "caseline"}
        )

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=_wait,
        retry=retry_if_exception_type(httpx.TransportError) | retry_if_result(_retryable),
        sleep=lambda seconds: _sleep(seconds),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        reraise=True,
    )
    try:
        with httpx.Client(timeout=timeout_s, transport=transport, follow_redirects=False) as client:
            response = retrying(send, client)
    except httpx.TransportError as exc:
        raise VendorError(
            f"export: POST {shown} failed: {type(exc).__name__} after {counter['n']} attempt(s)", source="export"
        ) from None
    status = response.status_code
    if 200 <= status < 300:
        return PostResult(status=status, attempts=counter["n"], url=shown)
    if _retryable(response):
        message = f"export: POST {shown} failed: HTTP {status} after {counter['n']} attempt(s)"
    else:
        message = f"export: POST {shown} rejected: HTTP {status} (not retried)"
    raise VendorError(message, source="export", status=status)
