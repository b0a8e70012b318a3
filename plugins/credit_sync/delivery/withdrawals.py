"""Withdrawals that fall due without any change at the source: a penalty's publicity
period (CF_GSJZQ, computed from configuration when the source left it empty) ends."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_sync.config import Target
from credit_sync.delivery.outbox import RecordVersion, enqueue
from credit_sync.normalise import parse_date
from credit_sync.schema import Kind
from credit_sync.staging.tables import staged_record

log = logging.getLogger(__name__)


def enqueue_expired(
    store: Engine, targets: Sequence[Target], as_of: date, chunk_size: int = 5000
) -> dict[str, int]:
    public = [t for t in targets if t.public and t.enabled and Kind.PENALTY in t.kinds]
    queued: dict[str, int] = {t.code: 0 for t in public}
    if not public:
        return queued
    r = staged_record.c
    last_id = ""
    while True:
        with store.connect() as conn:
            rows = conn.execute(
                sa.select(
                    r.record_id, r.department, r.kind, r.content_hash, r.payload, r.public_cleared
                )
                .where(
                    r.kind == Kind.PENALTY.value,
                    r.valid.is_(True),
                    r.deleted_at.is_(None),
                    r.record_id > last_id,
                )
                .order_by(r.record_id)
                .limit(chunk_size)
            ).all()
        if not rows:
            break
        last_id = rows[-1].record_id
        expired = []
        for row in rows:
            end = parse_date(row.payload.get("CF_GSJZQ"))
            if end and date.fromisoformat(end) < as_of:
                expired.append(RecordVersion.of(row._mapping, date.fromisoformat(end)))
        if expired:
            with store.begin() as conn:
                for code, n in enqueue(conn, expired, public, as_of).items():
                    queued[code] += n
    log.info("publicity ended as of %s: withdrawals queued %s", as_of, queued)
    return queued
