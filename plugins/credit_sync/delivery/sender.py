"""Drain one target's outbox through its channel, batch by batch.

A row is marked `sent` (and committed) before the request goes out, and settled from the
platform's receipts after. If the answer is lost, the row stays `sent` and the next
attempt re-sends it under the same idempotency key, which the platform answers with
`duplicate`: the effect is exactly once. Rows whose record changed since they were
queued are superseded instead of sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from credit_sync.config import Target
from credit_sync.delivery import outbox
from credit_sync.delivery.channels import AsyncChannel, Channel
from credit_sync.delivery.payload import render
from credit_sync.hooks.platform import PlatformError, Receipt
from credit_sync.staging.tables import outbox as outbox_table

log = logging.getLogger(__name__)


class DeliveryError(RuntimeError):
    pass


@dataclass
class DeliveryResult:
    target: str
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    superseded: int = 0
    awaiting: int = 0  # handed to an asynchronous channel, not judged yet
    batches: int = 0
    errors: list[str] = field(default_factory=list)


def deliver(store: Engine, target: Target, channel: Channel) -> DeliveryResult:
    """Send everything open for `target`. Raises DeliveryError after the other kinds had
    their turn if the channel failed, so the task fails and Airflow retries it."""
    result = DeliveryResult(target.code)
    for kind in target.kinds:
        try:
            _deliver_kind(store, target, channel, kind.value, result)
            if hasattr(channel, "poll"):
                _settle_awaiting(store, target, channel, kind.value, result)
        except PlatformError as exc:
            result.errors.append(f"{kind.value}: {exc}")
            log.error("target %s %s: delivery stopped: %s", target.code, kind.value, exc)
    log.info(
        "target %s: %d accepted, %d already held, %d rejected, %d superseded in %d batches",
        target.code,
        result.accepted,
        result.duplicates,
        result.rejected,
        result.superseded,
        result.batches,
    )
    if result.errors:
        raise DeliveryError(f"target {target.code} ({target.name}): " + "; ".join(result.errors))
    return result


_STATE_OF = {
    "accepted": outbox.ACCEPTED,
    "duplicate": outbox.ACCEPTED,
    "rejected": outbox.REJECTED,
    "queued": outbox.AWAITING,
}


def _settlement(outbox_id: int, receipt: Receipt, result: DeliveryResult) -> dict:
    if receipt.status not in _STATE_OF:
        raise PlatformError(f"unknown receipt status {receipt.status!r}")
    result.accepted += receipt.status == "accepted"
    result.duplicates += receipt.status == "duplicate"
    result.rejected += receipt.status == "rejected"
    result.awaiting += receipt.status == "queued"
    return {
        "b_id": outbox_id,
        "state": _STATE_OF[receipt.status],
        "platform_code": receipt.code,
        "platform_message": receipt.message,
    }


def _settle_awaiting(
    store: Engine, target: Target, channel: AsyncChannel, kind: str, result: DeliveryResult
) -> None:
    """Read back what the platform judged since the rows were handed over."""
    with store.connect() as conn:
        waiting = outbox.awaiting_keys(conn, target.code, kind)
    if not waiting:
        return
    receipts = channel.poll(kind, list(waiting))
    updates = [_settlement(waiting[r.idempotency_key], r, result) for r in receipts]
    result.awaiting -= len(updates)
    with store.begin() as conn:
        outbox.mark_each(conn, updates)
    log.info(
        "target %s %s: %d judged by the platform, %d still waiting",
        target.code,
        kind,
        len(updates),
        len(waiting) - len(updates),
    )


def _deliver_kind(
    store: Engine, target: Target, channel: Channel, kind: str, result: DeliveryResult
) -> None:
    while True:
        with store.begin() as conn:
            rows = outbox.claim(conn, target.code, kind, target.batch_size)
        if not rows:
            return
        live, stale = [], []
        for row in rows:
            if row["current_hash"] == row["content_hash"]:
                live.append(row)
            else:
                stale.append(row["id"])
        with store.begin() as conn:
            outbox.mark(conn, stale, outbox.SUPERSEDED)
            outbox.mark(
                conn, [r["id"] for r in live], outbox.SENT, attempts=outbox_table.c.attempts + 1
            )
        result.superseded += len(stale)
        if not live:
            continue
        items = [
            {
                "idempotency_key": r["idempotency_key"],
                "record_id": r["record_id"],
                "operation": r["operation"],
                "data": render(r["payload"], kind, target, r["operation"]),
            }
            for r in live
        ]
        batch_id = f"{target.code}-{kind}-{live[0]['id']}-{live[-1]['id']}"
        receipts = channel.send(kind, batch_id, items)
        by_key = {r.idempotency_key: r for r in receipts}
        updates = []
        for row in live:
            receipt = by_key.get(row["idempotency_key"])
            if receipt is None:
                raise PlatformError(f"no receipt for {row['idempotency_key']} in {batch_id}")
            updates.append(_settlement(row["id"], receipt, result))
        with store.begin() as conn:
            outbox.mark_each(conn, updates)
        result.batches += 1
        log.info(
            "target %s %s: batch %s settled (%d records; %d rejected so far)",
            target.code,
            kind,
            batch_id,
            len(live),
            result.rejected,
        )
