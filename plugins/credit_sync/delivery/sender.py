"""Drain one target's outbox through its channel, batch by batch.

A row is marked `sent` (and committed) before the request goes out, and settled from the
platform's receipts after. If the answer is lost, the row stays `sent` and the next
attempt re-sends it under the same idempotency key, which the platform answers with
`duplicate`: the effect is exactly once. Rows whose record changed since they were
queued are superseded instead of sent.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from credit_sync.config import Target
from credit_sync.delivery import outbox
from credit_sync.delivery.channels import AsyncChannel, Channel
from credit_sync.delivery.payload import Item, render_json
from credit_sync.hooks.platform import PlatformError, Receipt

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


def _settlement(outbox_id: int, receipt: Receipt, result: DeliveryResult) -> outbox.Settlement:
    if receipt.status not in _STATE_OF:
        raise PlatformError(f"unknown receipt status {receipt.status!r}")
    result.accepted += receipt.status == "accepted"
    result.duplicates += receipt.status == "duplicate"
    result.rejected += receipt.status == "rejected"
    result.awaiting += receipt.status == "queued"
    return outbox.Settlement(outbox_id, _STATE_OF[receipt.status], receipt.code, receipt.message)


def _settle_awaiting(
    store: Engine, target: Target, channel: AsyncChannel, kind: str, result: DeliveryResult
) -> None:
    """Read back what the platform judged since the rows were handed over."""
    with store.connect() as conn:
        waiting = outbox.awaiting_keys(conn, target.code, kind)
    if not waiting:
        return
    receipts = channel.poll(kind, list(waiting))
    settlements = [_settlement(waiting[r.idempotency_key], r, result) for r in receipts]
    result.awaiting -= len(settlements)
    with store.begin() as conn:
        outbox.settle(conn, settlements)
    log.info(
        "target %s %s: %d judged by the platform, %d still waiting",
        target.code,
        kind,
        len(settlements),
        len(waiting) - len(settlements),
    )


@dataclass
class _Batch:
    """Claimed rows, rendered and ready to send."""

    batch_id: str
    ids: list[int]
    items: list[Item]
    last_id: int  # the claim cursor: the next batch starts after it


def _prepare(
    store: Engine, target: Target, kind: str, after: int, result: DeliveryResult
) -> _Batch | None:
    """Claim the next open rows after `after` and render them; rows whose record changed
    since they were queued are superseded on the way. None when nothing is left."""
    while True:
        with store.begin() as conn:
            rows = outbox.claim(conn, target.code, kind, target.batch_size, after)
        if not rows:
            return None
        after = rows[-1].id
        ids, items, stale = [], [], []
        # Unpacked once: attribute access on 500 rows per batch showed in the profile.
        for outbox_id, record_id, operation, key, queued_hash, current_hash, text in rows:
            if current_hash != queued_hash:
                stale.append(outbox_id)
                continue
            ids.append(outbox_id)
            items.append(
                Item(key, record_id, operation, render_json(text, kind, target, operation))
            )
        if stale:
            with store.begin() as conn:
                outbox.mark(conn, stale, outbox.SUPERSEDED)
            result.superseded += len(stale)
        if ids:
            return _Batch(f"{target.code}-{kind}-{ids[0]}-{ids[-1]}", ids, items, after)


def _deliver_kind(
    store: Engine, target: Target, channel: Channel, kind: str, result: DeliveryResult
) -> None:
    # One request at a time, so the platform receives a record's versions in order. While
    # batch n is in flight, one worker thread settles batch n-1 and claims and renders
    # batch n+1 (the request leaves the interpreter free while it waits).
    with ThreadPoolExecutor(1, thread_name_prefix=f"deliver-{target.code}") as worker:
        batch = _prepare(store, target, kind, 0, result)
        answered: _Answered | None = None
        while batch is not None:
            # Committed before the request: a lost answer leaves the rows `sent`, and the
            # next attempt re-sends them under the same keys.
            with store.begin() as conn:
                outbox.mark_sent(conn, batch.ids)
            following = worker.submit(
                _settle_then_prepare, store, target, kind, answered, batch.last_id, result
            )
            # If this fails, leaving the block still waits for the worker to settle the
            # previous batch; what it claimed is not marked `sent`.
            answered = _Answered(batch, channel.send(kind, batch.batch_id, batch.items))
            batch = following.result()
        if answered is not None:
            _settle(store, target, kind, answered, result)


@dataclass(frozen=True)
class _Answered:
    batch: _Batch
    receipts: list[Receipt]


def _settle_then_prepare(
    store: Engine,
    target: Target,
    kind: str,
    answered: _Answered | None,
    after: int,
    result: DeliveryResult,
) -> _Batch | None:
    if answered is not None:
        _settle(store, target, kind, answered, result)
    return _prepare(store, target, kind, after, result)


def _settle(
    store: Engine, target: Target, kind: str, answered: _Answered, result: DeliveryResult
) -> None:
    """Store the platform's verdicts on a batch. Until this commits its rows stay `sent`,
    so a crash before it only means they are sent again and come back `duplicate`."""
    batch = answered.batch
    by_key = {r.idempotency_key: r for r in answered.receipts}
    settlements = []
    for outbox_id, item in zip(batch.ids, batch.items, strict=True):
        receipt = by_key.get(item.idempotency_key)
        if receipt is None:
            raise PlatformError(f"no receipt for {item.idempotency_key} in {batch.batch_id}")
        settlements.append(_settlement(outbox_id, receipt, result))
    with store.begin() as conn:
        outbox.settle(conn, settlements)
    result.batches += 1
    log.info(
        "target %s %s: batch %s settled (%d records; %d rejected so far)",
        target.code,
        kind,
        batch.batch_id,
        len(batch.ids),
        result.rejected,
    )
