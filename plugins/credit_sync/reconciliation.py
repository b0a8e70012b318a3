"""Hard deletes at the source, found by a periodic listing of the department's keys.

Incremental extraction only sees rows whose update time moved, so a row a department
deletes outright would stay staged, and published, for ever. On the days its
`reconcile:` setting names (or when a run asks for it), the department's own SELECT is
run for `source_key` only, over every row, streamed, and compared with what is staged:

- A staged record whose key is gone is treated as revoked (撤销): its status field
  (XK_ZT / CF_ZT) becomes "1" with the note 来源记录已删除，按撤销处理, and its content hash
  changes. The department's validate task then re-validates it like any other change,
  and the outbox takes it down from public targets and sends the status change to the
  provincial platform (which keeps history).
- `deleted_at` is NOT set: validation, reporting and publicity withdrawals all skip
  records with `deleted_at`, so setting it would stop the revocation from flowing. A
  record deleted at the source stays a live, revoked record; its raw hash is the marker
  `DELETED_AT_SOURCE`, which is how a later listing recognises it.
- A marked key that appears again is restored: its row is read again from the source
  (by key) and staged like a changed row, which replaces the revoked version.

A listing with no keys at all while records are staged is refused: an empty result is
far more often a broken view, a wrong schema or a permissions change than a department
that deleted everything, and revoking everything publicly is not undone quietly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_sync.config import Department, Settings
from credit_sync.extraction import (
    SOURCE_ERRORS,
    ExtractionError,
    ExtractResult,
    source_error,
    stage_rows,
)
from credit_sync.normalise import Normaliser, stable_hash
from credit_sync.schema import SOURCE_KEY, STATUS_REVOKED, Kind, key_fields, record_id
from credit_sync.source_frames import driver_frames
from credit_sync.staging.store import utcnow
from credit_sync.staging.tables import staged_record

log = logging.getLogger(__name__)

DELETED_AT_SOURCE = "deleted-at-source"  # raw_hash of a record revoked because its key vanished
DELETION_NOTE = "来源记录已删除，按撤销处理"
_BATCH = 500  # records updated, or keys re-read, per statement


class ReconciliationError(ExtractionError):
    """Reconciliation refused or failed; the message names the department and the cause."""


@dataclass
class ReconcileResult:
    department: str
    kind: str
    listed: int = 0  # keys the source listed
    staged: int = 0  # live records staged before
    revoked: int = 0  # staged records whose key vanished: revoked now
    restored: int = 0  # records revoked earlier whose key is back


def keys_query(select_sql: str) -> sa.TextClause:
    """Every key of the department's SELECT, in no particular order (no window)."""
    return sa.text(f"SELECT src.{SOURCE_KEY} FROM ({select_sql.strip().rstrip(';')}) src")


def _source_keys(source: Engine, select_sql: str, chunk_size: int) -> Iterator[str]:
    with source.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_size).execute(
            keys_query(select_sql)
        )
        for part in result.partitions(chunk_size):
            for (key,) in part:
                if key not in (None, ""):
                    yield str(key)  # as extraction turns it into a record id


def _staged_keys(store: Engine, dept: Department, kind: Kind) -> tuple[set[str], set[str]]:
    """Source keys of the department's staged records: (live, revoked as deleted)."""
    prefix = len(record_id(dept.code, kind, ""))
    live: set[str] = set()
    deleted: set[str] = set()
    r = staged_record.c
    with store.connect() as conn:
        rows = conn.execution_options(stream_results=True, yield_per=10_000).execute(
            sa.select(r.record_id, r.raw_hash).where(
                r.department == dept.code, r.kind == kind.value, r.deleted_at.is_(None)
            )
        )
        for rid, raw_hash in rows:
            (deleted if raw_hash == DELETED_AT_SOURCE else live).add(rid[prefix:])
    return live, deleted


def _revoke(store: Engine, dept: Department, kind: Kind, keys: list[str]) -> None:
    status = key_fields(kind).status
    note = {"field": status, "change": DELETION_NOTE}
    r = staged_record.c
    for start in range(0, len(keys), _BATCH):
        ids = [record_id(dept.code, kind, k) for k in keys[start : start + _BATCH]]
        with store.begin() as conn:
            rows = conn.execute(
                sa.select(r.record_id, r.payload, r.notes, r.public_cleared).where(
                    r.record_id.in_(ids)
                )
            ).all()
            updates = []
            for row in rows:
                payload = dict(row.payload) | {status: STATUS_REVOKED}
                updates.append(
                    {
                        "b_record_id": row.record_id,
                        "payload": payload,
                        "notes": [*(row.notes or []), note],
                        "content_hash": stable_hash([payload, row.public_cleared]),
                        "raw_hash": DELETED_AT_SOURCE,
                        "updated_at": utcnow(),
                    }
                )
            if updates:
                conn.execute(
                    staged_record.update()
                    .where(r.record_id == sa.bindparam("b_record_id"))
                    .values({k: sa.bindparam(k) for k in updates[0] if k != "b_record_id"}),
                    updates,
                )


def _restore(
    dept: Department,
    kind: Kind,
    source: Engine,
    store: Engine,
    select_sql: str,
    keys: list[str],
    *,
    logical_date: datetime,
    settings: Settings | None,
) -> int:
    """Read the rows of `keys` again and stage them: their raw hash differs from the
    marker, so each replaces its revoked version like any change at the source."""
    normaliser = Normaliser(kind, dept.kinds[kind].mappings, settings)
    result = ExtractResult(dept.code, kind.value)
    sql = select_sql.strip().rstrip(";")
    query = sa.text(f"SELECT * FROM ({sql}) src WHERE src.{SOURCE_KEY} IN :keys").bindparams(
        sa.bindparam("keys", expanding=True)
    )
    for start in range(0, len(keys), _BATCH):
        params: dict[str, Any] = {"keys": keys[start : start + _BATCH]}
        frames = driver_frames(source, query, params, dept.chunk_size)
        stage_rows(dept, kind, frames, store, normaliser, logical_date, result)
    return result.changed + result.new


def reconcile(
    dept: Department,
    kind: Kind,
    source: Engine,
    store: Engine,
    *,
    logical_date: datetime,
    settings: Settings | None = None,
) -> ReconcileResult:
    """List the source's keys and bring staging in line with deletions at the source."""
    kind = Kind(kind)
    select_sql = dept.kinds[kind].read_sql()
    result = ReconcileResult(dept.code, kind.value)
    live, deleted = _staged_keys(store, dept, kind)
    result.staged = len(live)
    back: list[str] = []
    try:
        for key in _source_keys(source, select_sql, dept.chunk_size):
            result.listed += 1
            live.discard(key)
            if key in deleted:
                back.append(key)
                deleted.discard(key)  # a key listed twice is restored once
    except SOURCE_ERRORS as exc:
        raise source_error(dept, kind, "listing the source's keys failed", exc) from exc
    if result.listed == 0 and result.staged:
        raise ReconciliationError(
            f"department {dept.code} ({dept.name}) {kind.value}: the source listed no keys "
            f"at all while {result.staged} records are staged; refusing to revoke them all. "
            "Check the department's SELECT, its connection's schema and permissions"
        )
    vanished = sorted(live)
    _revoke(store, dept, kind, vanished)
    result.revoked = len(vanished)
    if back:
        result.restored = _restore(
            dept,
            kind,
            source,
            store,
            select_sql,
            back,
            logical_date=logical_date,
            settings=settings,
        )
    log.info(
        "department %s %s: key reconciliation: %d keys at the source, %d staged; "
        "%d deleted at the source (revoked), %d back (restored)%s",
        dept.code,
        kind.value,
        result.listed,
        result.staged,
        result.revoked,
        result.restored,
        f"; first deleted keys: {vanished[:10]}" if vanished else "",
    )
    return result
