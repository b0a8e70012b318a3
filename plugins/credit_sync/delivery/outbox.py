"""The outbox: one row per (target, record version, operation), the single source of truth
for what each target should have, has, and refused.

Rows are written in the same transaction that marks a record valid, so a record is never
valid without its deliveries queued. The idempotency key (record id + content hash +
operation) is what the platform de-duplicates on: re-sending a row after a lost response
is harmless, and an unchanged record never gets a second row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from credit_sync.config import Target
from credit_sync.schema import STATUS_REVOKED, Kind, key_fields
from credit_sync.staging.store import utcnow
from credit_sync.staging.tables import outbox, staged_record

PENDING, SENT, AWAITING, ACCEPTED, REJECTED, FAILED, SUPERSEDED = (
    "pending",
    "sent",
    "awaiting",  # handed to an asynchronous channel (前置库), the platform has not judged yet
    "accepted",
    "rejected",
    "failed",
    "superseded",
)
OPEN_STATES = (PENDING, SENT)
UPSERT, WITHDRAW = "upsert", "withdraw"


@dataclass(frozen=True)
class RecordVersion:
    """What the outbox needs to know about a validated record."""

    record_id: str
    department: str
    kind: str
    content_hash: str
    payload: dict
    public_cleared: bool
    publicity_end: date | None = None  # penalties only

    @classmethod
    def of(cls, row: Mapping[str, Any], publicity_end: date | None = None) -> RecordVersion:
        """From a staged_record row (a mapping with its column names)."""
        return cls(
            row["record_id"],
            row["department"],
            row["kind"],
            row["content_hash"],
            row["payload"],
            row["public_cleared"],
            publicity_end,
        )


def idempotency_key(record_id: str, content_hash: str, operation: str, sequence: int) -> str:
    """Unique per outbox row of a target. The sequence (the record's n-th row there) lets
    a record that returns to an earlier content (A → B → A) be sent again as an update."""
    return f"{record_id}#{content_hash[:20]}#{operation}#{sequence}"


def wanted_operation(record: RecordVersion, target: Target, as_of: date) -> str:
    """What the target should hold for this record version."""
    status = record.payload.get(key_fields(record.kind).status)
    if target.public:
        expired = record.publicity_end is not None and record.publicity_end < as_of
        if not record.public_cleared or status == STATUS_REVOKED or expired:
            return WITHDRAW
    # The provincial platform keeps history: a revocation reaches it as a status change.
    return UPSERT


def _history(conn: Connection, target: str, record_ids: Sequence[str]) -> dict[str, dict]:
    """Per record on one target: its newest live (not superseded) row, whether the target
    may be showing the record now (its newest accepted-or-sent row is an upsert), and how
    many rows it has had."""
    history: dict[str, dict] = {}
    for chunk_start in range(0, len(record_ids), 500):
        chunk = record_ids[chunk_start : chunk_start + 500]
        rows = conn.execute(
            sa.select(
                outbox.c.id,
                outbox.c.record_id,
                outbox.c.operation,
                outbox.c.state,
                outbox.c.content_hash,
            )
            .where(outbox.c.target == target, outbox.c.record_id.in_(chunk))
            .order_by(outbox.c.id)
        ).mappings()
        for row in rows:
            entry = history.setdefault(row["record_id"], _NO_HISTORY.copy())
            entry["rows"] += 1
            if row["state"] == SUPERSEDED:
                continue
            entry["latest"] = dict(row)
            if row["state"] in (ACCEPTED, SENT, AWAITING):
                entry["shown"] = row["operation"] == UPSERT
    return history


_NO_HISTORY = {"latest": None, "shown": False, "rows": 0}


def enqueue(
    conn: Connection, records: Iterable[RecordVersion], targets: Sequence[Target], as_of: date
) -> dict[str, int]:
    """Queue what each target is missing; returns rows queued per target."""
    records = list(records)
    now = utcnow()
    queued: dict[str, int] = {}
    for target in targets:
        mine = [r for r in records if Kind(r.kind) in target.kinds]
        if not target.enabled or not mine:
            continue
        history = _history(conn, target.code, [r.record_id for r in mine])
        rows, superseded = [], []
        for record in mine:
            operation = wanted_operation(record, target, as_of)
            seen = history.get(record.record_id, _NO_HISTORY)
            previous = seen["latest"]
            if (
                previous
                and previous["content_hash"] == record.content_hash
                and previous["operation"] == operation
            ):
                continue  # already queued or delivered: never twice
            if previous and previous["state"] in (PENDING, REJECTED):
                # Never sent, or refused: the new version replaces it (and a fixed
                # rejection stops showing as an open failure).
                superseded.append(previous["id"])
            if operation == WITHDRAW and not seen["shown"]:
                continue  # the target does not show it: nothing to take down
            rows.append(
                {
                    "target": target.code,
                    "record_id": record.record_id,
                    "department": record.department,
                    "kind": record.kind,
                    "content_hash": record.content_hash,
                    "operation": operation,
                    "idempotency_key": idempotency_key(
                        record.record_id, record.content_hash, operation, seen["rows"] + 1
                    ),
                    "state": PENDING,
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        if superseded:
            conn.execute(
                outbox.update()
                .where(outbox.c.id.in_(superseded), outbox.c.state.in_((PENDING, REJECTED)))
                .values(state=SUPERSEDED, updated_at=now)
            )
        if rows:
            conn.execute(outbox.insert(), rows)
        queued[target.code] = len(rows)
    return queued


def awaiting_keys(conn: Connection, target: str, kind: str) -> dict[str, int]:
    """Idempotency key -> outbox id of rows an asynchronous channel still has to judge."""
    rows = conn.execute(
        sa.select(outbox.c.idempotency_key, outbox.c.id).where(
            outbox.c.target == target, outbox.c.kind == kind, outbox.c.state == AWAITING
        )
    )
    return dict(rows.all())


def _claim_statement() -> sa.Select:
    # Pick the rows on the narrow outbox alone, then join: joined first, every open row
    # after `after` would carry its payload into the sort that LIMIT cuts down.
    picked = (
        sa.select(
            outbox.c.id,
            outbox.c.record_id,
            outbox.c.operation,
            outbox.c.idempotency_key,
            outbox.c.content_hash,
        )
        .where(
            outbox.c.target == sa.bindparam("target"),
            outbox.c.kind == sa.bindparam("kind"),
            outbox.c.state.in_(OPEN_STATES),
            outbox.c.id > sa.bindparam("after"),
        )
        .order_by(outbox.c.id)
        .limit(sa.bindparam("limit"))
        .subquery("picked")
    )
    return (
        sa.select(
            picked,
            staged_record.c.content_hash.label("current_hash"),
            # CAST: the text as stored; PostgreSQL's driver would decode a json value.
            sa.cast(staged_record.c.payload, sa.Text).label("payload_json"),
        )
        .select_from(
            picked.outerjoin(staged_record, staged_record.c.record_id == picked.c.record_id)
        )
        .order_by(picked.c.id)
    )


# Built once: building the statement took longer than running it.
_CLAIM = _claim_statement()


def claim(conn: Connection, target: str, kind: str, limit: int, after: int = 0) -> Sequence[sa.Row]:
    """The next open rows of one target and kind with an id above `after`, oldest first.

    Each row is (`id`, `record_id`, `operation`, `idempotency_key`, `content_hash`,
    `current_hash`, `payload_json`), in this order: the last two are the record's current
    content hash and its staged JSON text (not decoded), both None if it vanished.
    `after` is where the previous claim of the same run ended: its rows may still be in
    flight, so they must not be claimed twice.

    `sent` rows are included: a row left `sent` means an earlier attempt's answer was
    lost, and resending it under the same idempotency key is exactly what makes that safe.
    """
    params = {"target": target, "kind": kind, "after": after, "limit": limit}
    return conn.execute(_CLAIM, params).all()


def mark(conn: Connection, ids: Sequence[int], state: str, **values: object) -> None:
    if not ids:
        return
    now = utcnow()
    extra = {"completed_at": now} if state in (ACCEPTED, REJECTED, SUPERSEDED) else {}
    conn.execute(
        outbox.update()
        .where(outbox.c.id.in_(list(ids)))
        .values(state=state, updated_at=now, **extra, **values)
    )


@dataclass(frozen=True, slots=True)
class Settlement:
    """A row's outcome from the platform's receipt."""

    outbox_id: int
    state: str
    platform_code: str | None = None
    platform_message: str | None = None


# Built once (an UPDATE of 500 ids was slower to build than to run); `ids` expands.
_OUTCOME = {
    "state": sa.bindparam("b_state"),
    "platform_code": sa.bindparam("b_code"),
    "platform_message": sa.bindparam("b_message"),
    "updated_at": sa.bindparam("b_now"),
    "completed_at": sa.bindparam("b_completed_at"),
}
_SETTLE_MANY = (
    outbox.update().where(outbox.c.id.in_(sa.bindparam("ids", expanding=True))).values(_OUTCOME)
)
_SETTLE_ONE = outbox.update().where(outbox.c.id == sa.bindparam("b_id")).values(_OUTCOME)
_MARK_SENT = (
    outbox.update()
    .where(outbox.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(state=SENT, attempts=outbox.c.attempts + 1, updated_at=sa.bindparam("b_now"))
)


def mark_sent(conn: Connection, ids: Sequence[int]) -> None:
    """The rows are about to go out in a request (one more attempt)."""
    conn.execute(_MARK_SENT, {"ids": list(ids), "b_now": utcnow()})


def settle(conn: Connection, settlements: Iterable[Settlement]) -> None:
    """Store per-row outcomes. Rows with the same outcome (a batch the platform took whole,
    its duplicates) are one UPDATE each; the rest (rejections carry their own message) one
    executemany. One statement per row was the slowest part of settling a batch."""
    groups: dict[tuple[str, str | None, str | None], list[int]] = {}
    for s in settlements:
        groups.setdefault((s.state, s.platform_code, s.platform_message), []).append(s.outbox_id)
    now = utcnow()
    singles = []
    for (state, code, message), ids in groups.items():
        outcome = {
            "b_state": state,
            "b_code": code,
            "b_message": message,
            "b_now": now,
            "b_completed_at": _completed_at(state, now),
        }
        if len(ids) > 1:
            conn.execute(_SETTLE_MANY, {"ids": ids, **outcome})
        else:
            singles.append({"b_id": ids[0], **outcome})
    if singles:
        conn.execute(_SETTLE_ONE, singles)


def _completed_at(state: str, now: datetime) -> datetime | None:
    # Handing a row to an asynchronous channel settles nothing yet.
    return None if state == AWAITING else now
