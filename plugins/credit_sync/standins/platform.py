"""Stand-in for the credit platforms' record-receiving API (contract version 1).

One app serves both targets; ``profile`` selects the target-specific checks:

* ``provincial`` - the provincial credit platform;
* ``public`` - 信用白银, which additionally refuses unmasked ID numbers and hides withdrawn
  records from its current listing.

The contract is described in ``docs/platform-contract.md``; the OpenAPI document generated
from this module is committed as ``docs/platform-contract.openapi.json``.

Request bodies of the records endpoint are parsed with msgspec (strict JSON: no NaN, no
out-of-range numbers, no lone surrogates) and checked by hand: pydantic models here only
describe the contract in the OpenAPI document, because validating thousands of records per
second through them would cost more than the rest of the request. msgspec also encodes what
is stored and answered; with the standard ``json`` module, decoding a batch and encoding its
records again took half of a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import random
import re
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path as FilePath
from typing import Any, Literal

import msgspec
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from credit_sync.signing import sign_request

CONTRACT_VERSION = "1"

Profile = Literal["provincial", "public"]
AuthMode = Literal["token", "signature"]
Kind = Literal["permit", "penalty"]
Operation = Literal["upsert", "withdraw"]
FaultAction = Literal["ok", "error", "rate_limit", "timeout", "reset", "reject"]

PROFILES: tuple[str, ...] = ("provincial", "public")
AUTH_MODES: tuple[str, ...] = ("token", "signature")
KINDS: tuple[str, ...] = ("permit", "penalty")
OPERATIONS: tuple[str, ...] = ("upsert", "withdraw")

MAX_BATCH_RECORDS = 5000
DEFAULT_TOKEN_TTL = 7200
SIGNATURE_MAX_SKEW_S = 300
NONCE_WINDOW_S = 600

REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "permit": ("XK_XDR_MC", "XK_WSH", "XK_JDRQ", "XK_XKJG", "XK_XKJGDM"),
    "penalty": ("CF_XDR_MC", "CF_WSH", "CF_JDRQ", "CF_CFJG", "CF_CFJGDM", "CF_CFLB"),
}
# Besides these, every field whose code ends in _JDRQ (decision date) is a date.
DATE_FIELDS: frozenset[str] = frozenset({"XK_YXQZ", "XK_YXQZI", "CF_GSJZQ", "CF_YXQ"})
ID_NUMBER_SUFFIXES: tuple[str, ...] = ("_XDR_ZJHM", "_FR_ZJHM")

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# 15- or 18-character resident ID numbers; masked ones contain '*' and never match.
_UNMASKED_ID_RE = re.compile(r"(?:\d{17}|\d{14})[\dXx]", re.ASCII)
# Compact UTF-8 JSON, built once (it is called once per stored record).
_ENCODER = msgspec.json.Encoder()

# --------------------------------------------------------------------------------------
# Signature algorithm (shared with clients)
# --------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------
# Models: they document the contract (OpenAPI) and validate the small control bodies.
# --------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str = Field(description="Stable ASCII error code, e.g. E_AUTH.")
    message: str | None = Field(default=None, description="Human-readable message (Chinese).")


class ValidationErrorBody(ErrorBody):
    detail: list[dict[str, Any]] = Field(default_factory=list)


class Health(BaseModel):
    status: Literal["ok"]
    profile: Profile


class TokenRequest(BaseModel):
    app_key: str
    app_secret: str


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Lifetime in seconds.")


class RecordIn(BaseModel):
    idempotency_key: str = Field(
        min_length=1, description="Client-chosen key; a key accepted once is never stored again."
    )
    record_id: str = Field(min_length=1, description="Stable business id of the record.")
    operation: Operation
    data: dict[str, str | int | float | None] = Field(
        default_factory=dict,
        description="Field code -> value. Upserts replace the whole record; "
        "withdrawals may send a minimal object. Other value types reject the record "
        "(E_FORMAT), not the batch.",
    )


class RecordBatch(BaseModel):
    batch_id: str
    records: list[RecordIn] = Field(
        description=f"At most {MAX_BATCH_RECORDS} records; larger batches get 413."
    )


class RecordResult(BaseModel):
    idempotency_key: str
    record_id: str
    status: Literal["accepted", "duplicate", "rejected"]
    code: str | None = None
    message: str | None = None


class BatchResult(BaseModel):
    batch_id: str
    results: list[RecordResult] = Field(description="One result per input record, same order.")


class RecordVersion(BaseModel):
    idempotency_key: str
    record_id: str
    kind: Kind
    operation: Operation
    data: dict[str, Any]
    batch_id: str
    received_at: str = Field(description="ISO 8601 UTC timestamp.")


class RecordVersionPage(BaseModel):
    total: int
    items: list[RecordVersion]


class CurrentRecord(BaseModel):
    record_id: str
    kind: Kind
    data: dict[str, Any]
    version_count: int


class CurrentPage(BaseModel):
    total: int
    items: list[CurrentRecord]


class FaultConfig(BaseModel):
    """Fault-injection settings; a PUT replaces all of them (omitted fields get defaults)."""

    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    rate_limit_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    retry_after: int = Field(default=1, ge=0, description="Retry-After seconds sent with 429.")
    delay_ms: int = Field(default=0, ge=0, description="Added to every records request.")
    timeout_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    timeout_sleep_s: float = Field(default=5.0, ge=0.0)
    reset_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    reject_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Per record.")
    seed: int | None = Field(default=None, description="Seeds the fault RNG; null = random.")
    script: list[FaultAction] = Field(
        default_factory=list,
        description="Consumed one entry per records request before the rates are consulted. "
        "GET returns the entries not yet consumed.",
    )

    @model_validator(mode="after")
    def _request_rates_fit(self) -> FaultConfig:
        total = self.error_rate + self.rate_limit_rate + self.timeout_rate + self.reset_rate
        if total > 1.0 + 1e-9:
            raise ValueError(
                "error_rate + rate_limit_rate + timeout_rate + reset_rate must not exceed 1"
            )
        return self


class Stats(BaseModel):
    records_requests: dict[str, int] = Field(
        description="POST /api/v1/records/{kind} requests by outcome (plus total)."
    )
    records: dict[str, int] = Field(description="Per-record results by status.")
    auth_failures: dict[str, int] = Field(description="401 answers by error code.")
    tokens_issued: int


# --------------------------------------------------------------------------------------
# Persistence
# --------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS record_versions (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    record_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    operation       TEXT NOT NULL,
    data            TEXT NOT NULL,
    batch_id        TEXT NOT NULL,
    received_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_record_versions_kind_record
    ON record_versions (kind, record_id, seq);
"""


class RecordStore:
    """Accepted record versions in SQLite (WAL).

    Each method is thread-safe; hold ``lock`` (re-entrant) around a check-then-insert
    sequence so no other batch can slip in between.
    """

    def __init__(self, path: str | FilePath) -> None:
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # Without fsync a commit still reaches the OS before COMMIT returns, so it survives
        # the process being killed; only an OS crash could lose it, fine for a stand-in.
        # fsync-ing checkpoints (synchronous=NORMAL) cost about half the batch time.
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute("PRAGMA busy_timeout=5000")
        # The version table and its key index outgrow the default 2 MiB page cache within a
        # benchmark's worth of records; every insert then reads index pages back in.
        self._conn.execute("PRAGMA cache_size=-65536")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    def existing_keys(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` are already stored; one query whatever the batch size."""
        if not keys:
            return set()
        with self.lock:
            rows = self._conn.execute(
                "SELECT idempotency_key FROM record_versions"
                " WHERE idempotency_key IN (SELECT value FROM json_each(?))",
                (json.dumps(keys, ensure_ascii=False),),
            ).fetchall()
        return {row[0] for row in rows}

    def known_record_ids(self, kind: str, record_ids: Iterable[str]) -> set[str]:
        ids = list(record_ids)
        if not ids:
            return set()
        with self.lock:
            rows = self._conn.execute(
                "SELECT DISTINCT record_id FROM record_versions"
                " WHERE kind = ? AND record_id IN (SELECT value FROM json_each(?))",
                (kind, json.dumps(ids, ensure_ascii=False)),
            ).fetchall()
        return {row[0] for row in rows}

    def insert(self, rows: list[tuple[str, str, str, str, str, str, str]]) -> None:
        """Store (key, record_id, kind, operation, data_json, batch_id, received_at) rows."""
        if not rows:
            return
        with self.lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT INTO record_versions (idempotency_key, record_id, kind, operation,"
                    " data, batch_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def versions(
        self, kind: str | None, record_id: str | None, offset: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        where, params = _filters(kind=kind, record_id=record_id)
        with self.lock:
            total = self._conn.execute(
                f"SELECT COUNT(*) FROM record_versions{where}", params
            ).fetchone()[0]
            rows = self._conn.execute(
                "SELECT idempotency_key, record_id, kind, operation, data, batch_id, received_at"
                f" FROM record_versions{where} ORDER BY seq LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
        items = [
            {
                "idempotency_key": r[0],
                "record_id": r[1],
                "kind": r[2],
                "operation": r[3],
                "data": json.loads(r[4]),
                "batch_id": r[5],
                "received_at": r[6],
            }
            for r in rows
        ]
        return total, items

    def current(self, kind: str | None) -> list[dict[str, Any]]:
        where, params = _filters(kind=kind)
        with self.lock:
            rows = self._conn.execute(
                "WITH latest AS ("
                " SELECT MAX(seq) AS seq, COUNT(*) AS n FROM record_versions"
                f"{where} GROUP BY kind, record_id)"
                " SELECT v.record_id, v.kind, v.data, latest.n"
                " FROM latest JOIN record_versions v ON v.seq = latest.seq"
                " WHERE v.operation = 'upsert' ORDER BY v.kind, v.record_id",
                params,
            ).fetchall()
        return [
            {"record_id": r[0], "kind": r[1], "data": json.loads(r[2]), "version_count": r[3]}
            for r in rows
        ]


def _filters(**values: str | None) -> tuple[str, list[str]]:
    clauses = [f"{name} = ?" for name, value in values.items() if value is not None]
    params = [value for value in values.values() if value is not None]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


# --------------------------------------------------------------------------------------
# Authentication
# --------------------------------------------------------------------------------------


class _AuthError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


class _Authenticator:
    def __init__(self, mode: str, app_key: str, app_secret: str, token_ttl: int) -> None:
        self.mode = mode
        self._key = app_key.encode("utf-8")
        self._secret_text = app_secret
        self._secret = app_secret.encode("utf-8")
        self.token_ttl = token_ttl
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._nonces: dict[str, float] = {}  # nonce -> monotonic time first seen
        self._nonce_order: deque[tuple[float, str]] = deque()

    def issue_token(self, app_key: str, app_secret: str) -> str:
        if not self._credentials_match(app_key, app_secret):
            raise _AuthError("E_AUTH", "App Key 或 App Secret 错误")
        now = time.monotonic()
        # Keep recently expired tokens so clients get E_TOKEN_EXPIRED rather than E_AUTH.
        stale = [t for t, exp in self._tokens.items() if exp < now - 3600]
        for token in stale:
            del self._tokens[token]
        token = secrets.token_urlsafe(32)
        self._tokens[token] = now + self.token_ttl
        return token

    def _credentials_match(self, app_key: str, app_secret: str) -> bool:
        key_ok = hmac.compare_digest(app_key.encode("utf-8"), self._key)
        secret_ok = hmac.compare_digest(app_secret.encode("utf-8"), self._secret)
        return key_ok and secret_ok

    def check(self, request: Request, body: bytes) -> None:
        if self.mode == "token":
            self._check_token(request)
        else:
            self._check_signature(request, body)

    def _check_token(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _AuthError("E_AUTH", "缺少访问令牌（Authorization: Bearer <token>）")
        expiry = self._tokens.get(token.strip())
        if expiry is None:
            raise _AuthError("E_AUTH", "访问令牌无效")
        if time.monotonic() >= expiry:
            raise _AuthError("E_TOKEN_EXPIRED", "访问令牌已过期，请重新获取")

    def _check_signature(self, request: Request, body: bytes) -> None:
        headers = request.headers
        values = {}
        for name in ("X-App-Key", "X-Timestamp", "X-Nonce", "X-Signature"):
            value = headers.get(name)
            if not value:
                raise _AuthError("E_SIGNATURE", f"缺少签名请求头：{name}")
            values[name] = value
        if not hmac.compare_digest(values["X-App-Key"].encode("utf-8"), self._key):
            raise _AuthError("E_SIGNATURE", "未知的 App Key")
        timestamp = values["X-Timestamp"]
        if not (timestamp.isascii() and timestamp.isdigit()):
            raise _AuthError("E_SIGNATURE", "时间戳格式错误，应为 Unix 秒（整数）")
        if abs(time.time() - int(timestamp)) > SIGNATURE_MAX_SKEW_S:
            raise _AuthError("E_SIGNATURE", f"时间戳超出允许范围（±{SIGNATURE_MAX_SKEW_S} 秒）")
        # The path as it came on the request line: that is what the client signed.
        raw_path = request.scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else request.url.path
        expected = sign_request(
            self._secret_text, request.method, path, timestamp, values["X-Nonce"], body
        )
        if not hmac.compare_digest(expected.encode("ascii"), values["X-Signature"].encode()):
            raise _AuthError("E_SIGNATURE", "签名校验失败")
        self._use_nonce(values["X-Nonce"])

    def _use_nonce(self, nonce: str) -> None:
        now = time.monotonic()
        order = self._nonce_order
        while order and order[0][0] <= now - NONCE_WINDOW_S:
            self._nonces.pop(order.popleft()[1], None)
        if nonce in self._nonces:
            raise _AuthError("E_SIGNATURE", "随机数（X-Nonce）已使用，疑似重放请求")
        self._nonces[nonce] = now
        order.append((now, nonce))


# --------------------------------------------------------------------------------------
# Fault injection and statistics
# --------------------------------------------------------------------------------------


class _Faults:
    def __init__(self) -> None:
        self.configure(FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        self.script: deque[str] = deque(config.script)
        self.rng = random.Random(config.seed)

    def snapshot(self) -> dict[str, Any]:
        return {**self.config.model_dump(), "script": list(self.script)}

    def next_action(self) -> str:
        if self.script:
            return self.script.popleft()
        c = self.config
        if c.error_rate + c.rate_limit_rate + c.timeout_rate + c.reset_rate <= 0.0:
            return "ok"
        draw = self.rng.random()
        for action, rate in (
            ("error", c.error_rate),
            ("rate_limit", c.rate_limit_rate),
            ("timeout", c.timeout_rate),
            ("reset", c.reset_rate),
        ):
            if draw < rate:
                return action
            draw -= rate
        return "ok"


_REQUEST_OUTCOMES = (
    "ok",
    "error",
    "rate_limit",
    "timeout",
    "reset",
    "reject",
    "unauthorized",
    "not_found",
    "invalid",
    "too_large",
)


class _Stats:
    def __init__(self) -> None:
        self.records_requests = dict.fromkeys(("total", *_REQUEST_OUTCOMES), 0)
        self.records = dict.fromkeys(("accepted", "duplicate", "rejected"), 0)
        self.auth_failures = dict.fromkeys(("E_AUTH", "E_TOKEN_EXPIRED", "E_SIGNATURE"), 0)
        self.tokens_issued = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "records_requests": dict(self.records_requests),
            "records": dict(self.records),
            "auth_failures": dict(self.auth_failures),
            "tokens_issued": self.tokens_issued,
        }


# --------------------------------------------------------------------------------------
# Batch validation and processing
# --------------------------------------------------------------------------------------


class _InvalidBody(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid body")
        self.errors = errors


class _BatchTooLarge(Exception):
    def __init__(self, count: int) -> None:
        super().__init__("batch too large")
        self.count = count


def _parse_batch(body: bytes, max_records: int) -> tuple[str, list[dict[str, Any]]]:
    """Check the batch's shape (the RecordBatch schema).

    Raises _InvalidBody on schema violations and _BatchTooLarge above ``max_records``.
    """
    try:
        payload = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise _InvalidBody([_err(["body"], f"JSON decode error: {exc}", "json_invalid")]) from None
    if type(payload) is not dict:
        raise _InvalidBody([_err(["body"], "Input should be an object", "dict_type")])
    errors: list[dict[str, Any]] = []
    batch_id = payload.get("batch_id")
    if type(batch_id) is not str:
        errors.append(_err(["body", "batch_id"], "Input should be a string", "string_type"))
    records = payload.get("records")
    if type(records) is not list:
        errors.append(_err(["body", "records"], "Input should be a list", "list_type"))
        raise _InvalidBody(errors)
    if len(records) > max_records:
        raise _BatchTooLarge(len(records))
    for i, rec in enumerate(records):
        if len(errors) >= 20:
            break
        loc = ["body", "records", i]
        if type(rec) is not dict:
            errors.append(_err(loc, "Input should be an object", "dict_type"))
            continue
        for name in ("idempotency_key", "record_id"):
            value = rec.get(name)
            if type(value) is not str or not value:
                errors.append(_err([*loc, name], "Input should be a non-empty string", "string"))
        if rec.get("operation") not in OPERATIONS:
            errors.append(
                _err([*loc, "operation"], "Input should be 'upsert' or 'withdraw'", "literal_error")
            )
        data = rec.get("data")
        if data is None:
            rec["data"] = {}
        elif type(data) is not dict:
            errors.append(_err([*loc, "data"], "Input should be an object", "dict_type"))
    if errors:
        raise _InvalidBody(errors)
    return batch_id, records  # type: ignore[return-value]


def _err(loc: list[Any], msg: str, type_: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": type_}


def _is_blank(value: Any) -> bool:
    return value is None or (type(value) is str and (not value or value.isspace()))


_FIELD_DATE, _FIELD_ID_NUMBER = 1, 2
_SCALAR_TYPES = frozenset({str, int, float, type(None)})
# Field-code tuple -> the fields of it that have a content rule. Records of one source share
# their field codes, so this is computed once per shape instead of a suffix test per value
# (which was the biggest cost of a batch). Bounded: field codes come from clients.
_rule_plans: dict[tuple[str, ...], tuple[tuple[str, int], ...]] = {}
_MAX_RULE_PLANS = 1024


def _rule_plan(fields: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    plan = _rule_plans.get(fields)
    if plan is None:
        rules = []
        for field in fields:
            if field.endswith("_JDRQ") or field in DATE_FIELDS:
                rules.append((field, _FIELD_DATE))
            elif field.endswith(ID_NUMBER_SUFFIXES):
                rules.append((field, _FIELD_ID_NUMBER))
        plan = tuple(rules)
        if len(_rule_plans) < _MAX_RULE_PLANS:
            _rule_plans[fields] = plan
    return plan


def _valid_date(value: Any) -> bool:
    if type(value) is not str or not _DATE_RE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def check_record(
    kind: str, operation: str, data: Mapping[str, Any], profile: str
) -> tuple[str, str] | None:
    """Content checks of one record: (code, Chinese message) of the first failing rule."""
    if operation == "upsert":
        # _is_blank inlined: this runs for every required field of every record.
        missing = [
            f
            for f in REQUIRED_FIELDS[kind]
            if (v := data.get(f)) is None or (type(v) is str and (not v or v.isspace()))
        ]
        if missing:
            return "E_REQUIRED", "缺少必填字段：" + "、".join(missing)
    # Type, date and privacy rules apply to a withdrawal's data as well: it is stored too.
    if not _SCALAR_TYPES.issuperset(map(type, data.values())):
        bad_types = [f for f, v in data.items() if type(v) not in _SCALAR_TYPES]
        return "E_FORMAT", "字段值类型错误（应为字符串、数字或 null）：" + "、".join(bad_types)
    bad_dates: list[str] = []
    leaked: list[str] = []
    for field, rule in _rule_plan(tuple(data)):
        value = data[field]
        if rule == _FIELD_DATE:
            if not _is_blank(value) and not _valid_date(value):
                bad_dates.append(field)
        elif profile == "public" and value is not None:
            if _UNMASKED_ID_RE.fullmatch(str(value).strip()):
                leaked.append(field)
    if bad_dates:
        return "E_FORMAT", "日期格式错误（应为 YYYY-MM-DD 的有效日期）：" + "、".join(bad_dates)
    if leaked:
        return "E_PRIVACY", "证件号码未脱敏，公示平台不接收：" + "、".join(leaked)
    return None


def _process_batch(
    store: RecordStore,
    kind: str,
    batch_id: str,
    records: list[dict[str, Any]],
    *,
    profile: str,
    reject_all: bool,
    reject_rate: float,
    rng: random.Random,
) -> list[dict[str, Any]]:
    with store.lock:
        return _process_batch_locked(
            store,
            kind,
            batch_id,
            records,
            profile=profile,
            reject_all=reject_all,
            reject_rate=reject_rate,
            rng=rng,
        )


def _process_batch_locked(
    store: RecordStore,
    kind: str,
    batch_id: str,
    records: list[dict[str, Any]],
    *,
    profile: str,
    reject_all: bool,
    reject_rate: float,
    rng: random.Random,
) -> list[dict[str, Any]]:
    already = store.existing_keys([r["idempotency_key"] for r in records])
    withdraw_ids = {r["record_id"] for r in records if r["operation"] == "withdraw"}
    known = store.known_record_ids(kind, withdraw_ids)
    accepted_keys: set[str] = set()
    received_at = datetime.now(UTC).isoformat(timespec="microseconds")
    rows: list[tuple[str, str, str, str, str, str, str]] = []
    results: list[dict[str, Any]] = []
    for rec in records:
        key = rec["idempotency_key"]
        record_id = rec["record_id"]
        operation = rec["operation"]
        data = rec["data"]
        failure: tuple[str, str] | None
        # An injected rejection wins over everything, duplicates included ("every record").
        if reject_all or (reject_rate > 0.0 and rng.random() < reject_rate):
            failure = ("E_INJECTED", "模拟故障：平台拒收该记录")
        elif key in already or key in accepted_keys:
            results.append(
                {
                    "idempotency_key": key,
                    "record_id": record_id,
                    "status": "duplicate",
                    "code": None,
                    "message": "该幂等键已受理，未重复保存",
                }
            )
            continue
        elif operation == "withdraw" and record_id not in known:
            failure = ("E_UNKNOWN_RECORD", f"撤回失败：平台没有该记录（{record_id}）")
        else:
            failure = check_record(kind, operation, data, profile)
        if failure is not None:
            results.append(
                {
                    "idempotency_key": key,
                    "record_id": record_id,
                    "status": "rejected",
                    "code": failure[0],
                    "message": failure[1],
                }
            )
            continue
        accepted_keys.add(key)
        if operation == "upsert":
            known.add(record_id)
        rows.append(
            (
                key,
                record_id,
                kind,
                operation,
                _ENCODER.encode(data).decode(),
                batch_id,
                received_at,
            )
        )
        results.append(
            {
                "idempotency_key": key,
                "record_id": record_id,
                "status": "accepted",
                "code": None,
                "message": None,
            }
        )
    store.insert(rows)
    return results


# --------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------


def _json(
    payload: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(_ENCODER.encode(payload), status_code, headers, media_type="application/json")


def _error(
    status_code: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return _json({"code": code, "message": message}, status_code, headers)


class _TruncatedResponse(Response):
    """Announces more bytes than it sends and never finishes: the server must drop the
    connection, so the client sees a broken response instead of an HTTP status."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self.body) + 4096).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.body[:8], "more_body": True})


# A hook the runner installs as ``app.state.connection_aborter``: given a request's ASGI
# scope it resets that request's TCP connection and returns True, or returns False.
ConnectionAborter = Callable[[Scope], bool]


async def _break_connection(request: Request, body: bytes) -> Response:
    aborter: ConnectionAborter | None = getattr(request.app.state, "connection_aborter", None)
    if aborter is not None and aborter(request.scope):
        # Wait until the server has noticed the connection is gone, so it treats the
        # response below as moot instead of writing it to a closed transport.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                while (await request.receive())["type"] != "http.disconnect":
                    pass
        return Response(status_code=204)
    return _TruncatedResponse(body)


# --------------------------------------------------------------------------------------
# App factory
# --------------------------------------------------------------------------------------

_SECURITY = [
    {"BearerToken": []},
    {"AppKey": [], "Timestamp": [], "Nonce": [], "Signature": []},
]
_SECURITY_SCHEMES = {
    "BearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "Auth mode `token`: token from POST /api/v1/auth/token.",
    },
    "AppKey": {"type": "apiKey", "in": "header", "name": "X-App-Key"},
    "Timestamp": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Timestamp",
        "description": "Unix seconds as an integer string; at most 300 s from server time.",
    },
    "Nonce": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Nonce",
        "description": "Random string; must not repeat within 600 s.",
    },
    "Signature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Signature",
        "description": "Lowercase hex HMAC-SHA256(app_secret, "
        "METHOD\\nPATH\\nX-Timestamp\\nX-Nonce\\nsha256_hex(body)).",
    },
}
_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "E_AUTH, E_TOKEN_EXPIRED or E_SIGNATURE."}
}
_INVALID_RESPONSE: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrorBody, "description": "Malformed request (E_INVALID_REQUEST)."}
}
_DESCRIPTION = (
    "Contract version 1 of the credit platforms' record-receiving API, as implemented by the "
    "credit-sync stand-in. Profile `provincial` is the provincial credit platform, profile "
    "`public` is 信用白银. A server runs in one auth mode: `token` (Bearer token) or "
    "`signature` (HMAC headers). Endpoints under /api/v1/_faults and /api/v1/_stats are "
    "testing tools of the stand-in only; never expose them. See docs/platform-contract.md."
)


def create_app(
    *,
    profile: str,
    db_path: str | FilePath,
    app_key: str,
    app_secret: str,
    auth_mode: str = "token",
    token_ttl: int = DEFAULT_TOKEN_TTL,
) -> FastAPI:
    """Build the stand-in app. ``db_path`` may be ``":memory:"`` (e.g. for OpenAPI output)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, not {profile!r}")
    if auth_mode not in AUTH_MODES:
        raise ValueError(f"auth_mode must be one of {AUTH_MODES}, not {auth_mode!r}")
    if not app_key or not app_secret:
        raise ValueError("app_key and app_secret must be non-empty")

    store = RecordStore(db_path)
    auth = _Authenticator(auth_mode, app_key, app_secret, int(token_ttl))
    faults = _Faults()
    stats = _Stats()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="credit-sync platform stand-in",
        version=CONTRACT_VERSION,
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.profile = profile
    app.state.store = store
    app.state.faults = faults
    app.state.stats = stats

    def unauthorized(exc: _AuthError) -> Response:
        stats.auth_failures[exc.code] = stats.auth_failures.get(exc.code, 0) + 1
        headers = {"WWW-Authenticate": "Bearer"} if auth.mode == "token" else None
        return _error(401, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(_request: Request, exc: RequestValidationError) -> Response:
        # Only the stable keys: "input" and "ctx" may echo secrets or be unserialisable.
        detail = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]
        return _json(
            {"code": "E_INVALID_REQUEST", "message": "请求格式错误", "detail": detail}, 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _on_http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "E_NOT_FOUND", 405: "E_METHOD_NOT_ALLOWED"}.get(
            exc.status_code, f"E_HTTP_{exc.status_code}"
        )
        return _error(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Response:
        return _json({"status": "ok", "profile": profile})

    @app.post(
        "/api/v1/auth/token",
        response_model=TokenResponse,
        tags=["auth"],
        responses={
            401: {"model": ErrorBody, "description": "Wrong credentials (E_AUTH)."},
            404: {"model": ErrorBody, "description": "Server runs in signature mode."},
            **_INVALID_RESPONSE,
        },
    )
    async def issue_token(body: TokenRequest) -> Response:
        """Exchange app_key/app_secret for a Bearer token (auth mode `token` only)."""
        if auth.mode != "token":
            return _error(404, "E_NOT_FOUND", "当前为签名鉴权模式，不提供令牌接口")
        try:
            token = auth.issue_token(body.app_key, body.app_secret)
        except _AuthError as exc:
            return unauthorized(exc)
        stats.tokens_issued += 1
        return _json({"access_token": token, "token_type": "Bearer", "expires_in": auth.token_ttl})

    @app.post(
        "/api/v1/records/{kind}",
        response_model=BatchResult,
        tags=["records"],
        responses={
            **_AUTH_RESPONSES,
            404: {"model": ErrorBody, "description": "Unknown kind (E_NOT_FOUND)."},
            413: {"model": ErrorBody, "description": "More than 5000 records (E_BATCH_TOO_LARGE)."},
            **_INVALID_RESPONSE,
            429: {
                "model": ErrorBody,
                "description": "Injected rate limit (E_RATE_LIMITED); nothing stored.",
                "headers": {
                    "Retry-After": {
                        "description": "Seconds to wait before retrying.",
                        "schema": {"type": "integer"},
                    }
                },
            },
            503: {"model": ErrorBody, "description": "Injected outage (E_UNAVAILABLE)."},
        },
        openapi_extra={
            "security": _SECURITY,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/RecordBatch"}}
                },
            },
        },
    )
    async def post_records(
        request: Request,
        # A plain str so an unknown kind is our 404, not FastAPI's 422.
        kind: str = Path(json_schema_extra={"enum": list(KINDS)}),
    ) -> Response:
        """Deliver a batch; every record gets its own result (accepted/duplicate/rejected)."""
        counts = stats.records_requests
        counts["total"] += 1
        body = await request.body()
        if kind not in KINDS:
            counts["not_found"] += 1
            return _error(404, "E_NOT_FOUND", f"未知的记录类型：{kind}")
        try:
            auth.check(request, body)
        except _AuthError as exc:
            counts["unauthorized"] += 1
            return unauthorized(exc)

        action = faults.next_action()
        config = faults.config
        if config.delay_ms:
            await asyncio.sleep(config.delay_ms / 1000)
        if action == "error":
            counts["error"] += 1
            return _error(503, "E_UNAVAILABLE", "模拟故障：平台暂时不可用")
        if action == "rate_limit":
            counts["rate_limit"] += 1
            return _error(
                429,
                "E_RATE_LIMITED",
                "模拟故障：请求过于频繁，请稍后重试",
                {"Retry-After": str(config.retry_after)},
            )

        try:
            batch_id, records = _parse_batch(body, MAX_BATCH_RECORDS)
        except _InvalidBody as exc:
            counts["invalid"] += 1
            return _json(
                {"code": "E_INVALID_REQUEST", "message": "请求体格式错误", "detail": exc.errors},
                422,
            )
        except _BatchTooLarge as exc:
            counts["too_large"] += 1
            return _error(
                413,
                "E_BATCH_TOO_LARGE",
                f"单批最多 {MAX_BATCH_RECORDS} 条记录，本批 {exc.count} 条",
            )

        results = _process_batch(
            store,
            kind,
            batch_id,
            records,
            profile=profile,
            reject_all=action == "reject",
            reject_rate=config.reject_rate,
            rng=faults.rng,
        )
        for result in results:
            stats.records[result["status"]] += 1
        counts[action] += 1
        payload = {"batch_id": batch_id, "results": results}
        if action == "timeout":
            # Committed already: the client gives up while the platform has the batch.
            await asyncio.sleep(config.timeout_sleep_s)
        elif action == "reset":
            return await _break_connection(
                request, json.dumps(payload, ensure_ascii=False).encode("utf-8")
            )
        return _json(payload)

    @app.get(
        "/api/v1/records",
        response_model=RecordVersionPage,
        tags=["records"],
        responses={**_AUTH_RESPONSES, **_INVALID_RESPONSE},
        openapi_extra={"security": _SECURITY},
    )
    async def list_records(
        request: Request,
        kind: Kind | None = None,
        record_id: str | None = None,
        offset: int = Query(0, ge=0),
        limit: int = Query(1000, ge=1, le=10000),
    ) -> Response:
        """Every accepted version, in receive order."""
        try:
            auth.check(request, await request.body())
        except _AuthError as exc:
            return unauthorized(exc)
        total, items = store.versions(kind, record_id, offset, limit)
        return _json({"total": total, "items": items})

    @app.get(
        "/api/v1/current",
        response_model=CurrentPage,
        tags=["records"],
        responses={**_AUTH_RESPONSES, **_INVALID_RESPONSE},
        openapi_extra={"security": _SECURITY},
    )
    async def current_records(request: Request, kind: Kind | None = None) -> Response:
        """Latest state per record, withdrawn records excluded."""
        try:
            auth.check(request, await request.body())
        except _AuthError as exc:
            return unauthorized(exc)
        items = store.current(kind)
        return _json({"total": len(items), "items": items})

    @app.get("/api/v1/_faults", response_model=FaultConfig, tags=["testing"])
    async def get_faults() -> Response:
        """Current fault settings (testing tool, no auth: never expose)."""
        return _json(faults.snapshot())

    @app.put(
        "/api/v1/_faults",
        response_model=FaultConfig,
        tags=["testing"],
        responses=_INVALID_RESPONSE,
    )
    async def put_faults(config: FaultConfig) -> Response:
        """Replace the fault settings (testing tool, no auth: never expose)."""
        faults.configure(config)
        return _json(faults.snapshot())

    @app.get("/api/v1/_stats", response_model=Stats, tags=["testing"])
    async def get_stats() -> Response:
        """Request and record counters since start (testing tool, no auth)."""
        return _json(stats.as_dict())

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {})
            components["securitySchemes"] = _SECURITY_SCHEMES
            schemas = components.setdefault("schemas", {})
            # RecordBatch is only referenced from openapi_extra, so add it (and RecordIn).
            batch_schema = RecordBatch.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            schemas.update(batch_schema.pop("$defs", {}))
            schemas["RecordBatch"] = batch_schema
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def openapi_document() -> dict[str, Any]:
    """The contract's OpenAPI document (identical for every profile and auth mode)."""
    app = create_app(profile="provincial", db_path=":memory:", app_key="-", app_secret="-")
    try:
        return app.openapi()
    finally:
        app.state.store.close()


def openapi_json() -> str:
    """``openapi_document()`` serialised as committed in docs/platform-contract.openapi.json."""
    return json.dumps(openapi_document(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_openapi(path: str | FilePath) -> None:
    FilePath(path).write_text(openapi_json(), encoding="utf-8")
