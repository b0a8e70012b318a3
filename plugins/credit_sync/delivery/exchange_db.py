"""The database channel (GB/T 39443 "database" exchange, 前置库): rows go into an agreed
exchange table of a front-end database; the platform collects them and writes back a
status. Delivery is asynchronous: writing a row settles nothing, reading the platform's
status back does.

Exchange table (one per record kind, names from the target's `options.tables`):

| column | meaning |
|---|---|
| exchange_id | surrogate key |
| idempotency_key | unique: the same record version is never written twice |
| record_id, operation | as in the outbox (`upsert` / `withdraw`) |
| decision_number | 文书号, for the platform's convenience |
| data | the record as JSON (UTF-8 text) |
| push_status | 0 待采集 (written by us), 1 已采集 (accepted), 2 退回 (rejected) |
| feedback_code, feedback_message | the platform's reason for 退回 |
| written_at, collected_at | timestamps |
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_sync.delivery.payload import Item
from credit_sync.hooks.platform import Receipt
from credit_sync.staging.store import utcnow

WAITING, COLLECTED, RETURNED = 0, 1, 2


def exchange_table(name: str, metadata: sa.MetaData | None = None) -> sa.Table:
    return sa.Table(
        name,
        metadata or sa.MetaData(),
        sa.Column(
            "exchange_id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
        sa.Column("record_id", sa.String(255), nullable=False),
        sa.Column("operation", sa.String(10), nullable=False),
        sa.Column("decision_number", sa.String(200)),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("push_status", sa.SmallInteger, nullable=False, default=WAITING),
        sa.Column("feedback_code", sa.String(40)),
        sa.Column("feedback_message", sa.Text),
        sa.Column("written_at", sa.DateTime, nullable=False),
        sa.Column("collected_at", sa.DateTime),
        mysql_charset="utf8mb4",
    )


class ExchangeDatabaseChannel:
    """Writes batches into the exchange tables and reads the platform's statuses back."""

    asynchronous = True

    def __init__(self, engine: Engine, tables: dict[str, str], create: bool = False) -> None:
        self.engine = engine
        self.tables = {kind: exchange_table(name) for kind, name in tables.items()}
        if create:
            for table in self.tables.values():
                table.create(engine, checkfirst=True)

    def send(self, kind: str, batch_id: str, items: Sequence[Item]) -> list[Receipt]:
        table = self.tables[kind]
        keys = [i.idempotency_key for i in items]
        now = utcnow()
        with self.engine.begin() as conn:
            present = set(
                conn.execute(
                    sa.select(table.c.idempotency_key).where(table.c.idempotency_key.in_(keys))
                ).scalars()
            )
            rows = [
                {
                    "idempotency_key": i.idempotency_key,
                    "record_id": i.record_id,
                    "operation": i.operation,
                    "decision_number": _decision_number(data := i.data),
                    "data": json.dumps(data, ensure_ascii=False),
                    "push_status": WAITING,
                    "written_at": now,
                }
                for i in items
                if i.idempotency_key not in present
            ]
            if rows:
                conn.execute(table.insert(), rows)
        # Written, not yet judged: the outbox waits for the platform's status.
        return [Receipt(k, "queued") for k in keys]

    def poll(self, kind: str, keys: Sequence[str]) -> list[Receipt]:
        """Statuses the platform has written back; rows still waiting are left out."""
        table = self.tables[kind]
        out: list[Receipt] = []
        with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                rows = conn.execute(
                    sa.select(
                        table.c.idempotency_key,
                        table.c.push_status,
                        table.c.feedback_code,
                        table.c.feedback_message,
                    ).where(
                        table.c.idempotency_key.in_(list(keys[start : start + 500])),
                        table.c.push_status != WAITING,
                    )
                )
                for key, status, code, message in rows:
                    verdict = "accepted" if status == COLLECTED else "rejected"
                    out.append(Receipt(key, verdict, code, message))
        return out


def _decision_number(data: dict) -> str | None:
    return data.get("XK_WSH") or data.get("CF_WSH")
