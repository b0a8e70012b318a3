"""Signed requests (the platform contract's `signature` auth mode), shared by the client
hook and the stand-in so both sides compute exactly the same string."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time


def sign_request(
    secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes
) -> str:
    """Return the ``X-Signature`` value for one request (signature auth mode).

    ``HMAC-SHA256(key=secret, msg="METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nSHA256_HEX(body)")`` as
    lowercase hex, where METHOD is upper-cased, PATH is the URL path without the query string,
    TIMESTAMP is the unix-seconds string sent in ``X-Timestamp``, NONCE the string sent in
    ``X-Nonce`` and body the raw request body bytes (empty for GET).
    """
    body_hash = hashlib.sha256(body).hexdigest()
    message = f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{body_hash}"
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def signature_headers(
    app_key: str,
    secret: str,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Build the four signature-auth headers for a request (fresh timestamp and nonce)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(16) if nonce is None else nonce
    return {
        "X-App-Key": app_key,
        "X-Timestamp": ts,
        "X-Nonce": nonce,
        "X-Signature": sign_request(secret, method, path, ts, nonce, body),
    }


__all__ = ["sign_request", "signature_headers"]
