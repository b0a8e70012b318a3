"""HTTP client for a credit platform's service channel (GB/T 39443 "service" exchange).

`PlatformClient` holds the protocol: authentication (a token from a login endpoint,
refreshed on expiry, or HMAC-SHA256 signed requests), batch upload, and retries with
exponential backoff and jitter on timeouts, connection errors, 429 (Retry-After honoured)
and 5xx. A platform's per-record rejection is an answer, not an error: it is returned,
never retried. `PlatformHook` builds the client from an Airflow connection. Nothing here
logs a header, a body or a credential.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import requests
from airflow.sdk import BaseHook

from credit_sync.signing import signature_headers

log = logging.getLogger(__name__)

RETRYABLE_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class PlatformError(RuntimeError):
    """The platform could not be reached or refused a whole request."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        # Full jitter: concurrent senders don't retry in lockstep.
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


class Receipt(NamedTuple):  # a tuple: an answer brings one per record
    idempotency_key: str
    status: str  # accepted | duplicate | rejected
    code: str | None = None
    message: str | None = None


class PlatformClient:
    def __init__(
        self,
        base_url: str,
        app_key: str,
        app_secret: str,
        *,
        auth: str = "token",
        token_path: str = "/api/v1/auth/token",
        records_path: str = "/api/v1/records/{kind}",
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if auth not in ("token", "signature"):
            raise ValueError(f"unknown auth mode {auth!r}: use 'token' or 'signature'")
        self.base_url = base_url.rstrip("/")
        self._key, self._secret = app_key, app_secret
        self.auth, self.token_path, self.records_path = auth, token_path, records_path
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._token: str | None = None
        self._token_expires = 0.0
        self.session = requests.Session()

    def __repr__(self) -> str:  # credentials stay out of reprs and therefore logs
        return f"PlatformClient({self.base_url!r}, auth={self.auth!r})"

    # -- authentication -------------------------------------------------------------------

    def _token_header(self) -> dict[str, str]:
        if self._token is None or time.monotonic() >= self._token_expires:
            resp = self.session.post(
                self.base_url + self.token_path,
                json={"app_key": self._key, "app_secret": self._secret},
                timeout=self.timeout,
            )
            if resp.status_code != 200:
                raise PlatformError(f"login to {self.base_url} failed: HTTP {resp.status_code}")
            data = resp.json()
            self._token = data["access_token"]
            # Renew a little early so a token doesn't expire in flight.
            self._token_expires = time.monotonic() + max(1.0, float(data["expires_in"]) * 0.9)
        return {"Authorization": f"Bearer {self._token}"}

    def _auth_headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        if self.auth == "token":
            return self._token_header()
        return signature_headers(self._key, self._secret, method, path, body)

    # -- requests -------------------------------------------------------------------------

    def request(
        self, method: str, path: str, payload: Any = None, *, body: bytes = b""
    ) -> requests.Response:
        """One logical request with retries; returns the first non-retryable response.
        The body is `payload` encoded as JSON, or `body` when it is encoded already."""
        if payload is not None:
            body = json.dumps(payload, ensure_ascii=False).encode()
        last_problem = ""
        for attempt in range(1, self.retry.max_attempts + 1):
            retry_after: float | None = None
            try:
                headers = {
                    "Content-Type": "application/json",
                    **self._auth_headers(method, path.split("?", 1)[0], body),
                }
                resp = self.session.request(
                    method,
                    self.base_url + path,
                    data=body or None,
                    headers=headers,
                    timeout=self.timeout,
                )
            except RETRYABLE_ERRORS as exc:
                last_problem = type(exc).__name__
            else:
                if (
                    resp.status_code == 401
                    and self.auth == "token"
                    and _code(resp) == "E_TOKEN_EXPIRED"
                ):
                    self._token = None
                    last_problem = "token expired"
                elif resp.status_code == 429:
                    retry_after = _retry_after(resp)
                    last_problem = "HTTP 429"
                elif resp.status_code >= 500:
                    last_problem = f"HTTP {resp.status_code}"
                else:
                    return resp
            if attempt < self.retry.max_attempts:
                delay = self.retry.delay(attempt, retry_after)
                log.warning(
                    "%s %s%s: %s, retry %d/%d in %.1fs",
                    method,
                    self.base_url,
                    path,
                    last_problem,
                    attempt,
                    self.retry.max_attempts - 1,
                    delay,
                )
                self._sleep(delay)
        raise PlatformError(
            f"{method} {self.base_url}{path} failed after {self.retry.max_attempts} attempts: "
            f"{last_problem}"
        )

    def send_records(self, kind: str, batch_id: str, records: list[dict]) -> list[Receipt]:
        """Upload one batch; one receipt per record, in order."""
        body = json.dumps({"batch_id": batch_id, "records": records}, ensure_ascii=False)
        return self.post_batch(kind, body.encode(), len(records))

    def post_batch(self, kind: str, body: bytes, count: int) -> list[Receipt]:
        """Upload one batch already encoded as the records request body (`count` records);
        one receipt per record, in order."""
        path = self.records_path.format(kind=kind)
        resp = self.request("POST", path, body=body)
        if resp.status_code != 200:
            raise PlatformError(
                f"POST {self.base_url}{path} refused the batch: HTTP {resp.status_code} "
                f"{_code(resp) or ''}".rstrip()
            )
        results = resp.json()["results"]
        if len(results) != count:
            raise PlatformError(f"platform answered {len(results)} receipts for {count}")
        return [
            Receipt(r["idempotency_key"], r["status"], r.get("code"), r.get("message"))
            for r in results
        ]


def _code(resp: requests.Response) -> str | None:
    try:
        return resp.json().get("code")
    except (ValueError, AttributeError):
        return None


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def client_from_connection(conn: Any) -> PlatformClient:
    """Build a client from an Airflow connection (login = app key, password = secret)."""
    extra = conn.extra_dejson or {}
    host = conn.host or ""
    base = host if "://" in host else f"{conn.schema or 'http'}://{host}"
    if conn.port:
        base = f"{base}:{conn.port}"
    return PlatformClient(
        base,
        conn.login or "",
        conn.password or "",
        auth=extra.get("auth", "token"),
        token_path=extra.get("token_path", "/api/v1/auth/token"),
        records_path=extra.get("records_path", "/api/v1/records/{kind}"),
        timeout=float(extra.get("timeout", 30)),
        retry=RetryPolicy(
            max_attempts=int(extra.get("max_attempts", 5)),
            base_delay=float(extra.get("base_delay", 0.5)),
            max_delay=float(extra.get("max_delay", 30)),
        ),
    )


class PlatformHook(BaseHook):
    """A platform client from an Airflow connection."""

    conn_name_attr = "conn_id"
    hook_name = "credit-sync platform"

    def __init__(self, conn_id: str) -> None:
        super().__init__()
        self.conn_id = conn_id

    def get_client(self) -> PlatformClient:
        return client_from_connection(self.get_connection(self.conn_id))
