"""How the sender builds, sends and settles batches, seen through a recording platform
client: the full record goes out as staged, verdicts land on exactly their rows, and a row
is `sent` only while a request may carry it."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import pytest
import sqlalchemy as sa

from credit_sync.codes import mask_id
from credit_sync.config import Target
from credit_sync.delivery import outbox
from credit_sync.delivery.channels import ServiceChannel
from credit_sync.delivery.payload import service_body
from credit_sync.delivery.sender import DeliveryError, deliver
from credit_sync.hooks.platform import PlatformError, Receipt
from credit_sync.staging.tables import outbox as outbox_table
from credit_sync.staging.tables import staged_record
from tests.factories import PROVINCIAL, PUBLIC, penalty_row, person_id, queue, stage

TODAY = date(2026, 11, 27)
SMALL = Target("provincial", "省平台", "service", "credit_provincial", public=False, batch_size=4)


@dataclass
class RecordingClient:
    """Stands in for PlatformClient.post_batch: keeps each body, answers from `verdicts`
    (idempotency key -> receipt; anything else accepted), fails on one call if asked, and
    checks the outbox while each request is in flight."""

    store: sa.Engine
    target: str = SMALL.code
    verdicts: dict[str, Receipt] = field(default_factory=dict)
    fail_on_call: int | None = None
    bodies: list[bytes] = field(default_factory=list)

    def post_batch(self, kind: str, body: bytes, count: int) -> list[Receipt]:
        keys = [r["idempotency_key"] for r in json.loads(body)["records"]]
        assert len(keys) == count
        previous = (
            [r["idempotency_key"] for r in json.loads(self.bodies[-1])["records"]]
            if self.bodies
            else []
        )
        self.bodies.append(body)
        with self.store.connect() as conn:
            rows = conn.execute(
                sa.select(outbox_table.c.idempotency_key, outbox_table.c.state).where(
                    outbox_table.c.target == self.target
                )
            )
            states = dict(rows.all())
        # This batch is `sent`; besides it only the previous one may be (answered, being
        # settled): the batch prepared meanwhile must not be.
        assert {states[k] for k in keys} == {outbox.SENT}
        assert {k for k, s in states.items() if s == outbox.SENT} <= {*keys, *previous}
        if self.fail_on_call == len(self.bodies):
            raise PlatformError("connection reset")
        return [self.verdicts.get(k, Receipt(k, "accepted")) for k in keys]


def _rows(store: sa.Engine, target: str) -> dict[str, sa.Row]:
    with store.connect() as conn:
        rows = conn.execute(sa.select(outbox_table).where(outbox_table.c.target == target))
        return {r.record_id: r for r in rows}


def _staged_text(store: sa.Engine) -> dict[str, str]:
    with store.connect() as conn:
        rows = conn.execute(
            sa.select(staged_record.c.record_id, sa.cast(staged_record.c.payload, sa.Text))
        )
        return dict(rows.all())


def test_full_records_go_out_as_staged_byte_for_byte(store) -> None:
    records = stage(store, [penalty_row(i) for i in range(6)])
    # The same record spelled differently (escapes, spaces): what is stored goes out.
    respelled = json.dumps(records[0]["payload"])
    with store.begin() as conn:
        conn.execute(
            sa.text("UPDATE staged_record SET payload = :text WHERE record_id = :id"),
            {"text": respelled, "id": records[0]["record_id"]},
        )
    queue(store, records, [SMALL])
    client = RecordingClient(store)
    deliver(store, SMALL, ServiceChannel(client))

    staged = _staged_text(store)
    assert staged[records[0]["record_id"]] == respelled and "\\u" in respelled
    sent = [r for body in client.bodies for r in json.loads(body)["records"]]
    assert sorted(r["record_id"] for r in sent) == sorted(staged)
    for body in client.bodies:
        text = body.decode()
        for r in json.loads(body)["records"]:
            assert f'"data":{staged[r["record_id"]]}}}' in text  # the stored text itself
            assert r["data"]["CF_XDR_ZJHM"] == person_id(int(r["record_id"].rsplit("/", 1)[1]) - 1)
    assert [len(json.loads(b)["records"]) for b in client.bodies] == [4, 2]


def test_public_targets_still_get_masked_ids_and_no_remarks(store) -> None:
    records = stage(store, [penalty_row(i, BZ="内部备注") for i in range(3)])
    queue(store, records, [PUBLIC])
    client = RecordingClient(store, PUBLIC.code)
    deliver(store, PUBLIC, ServiceChannel(client))
    [body] = client.bodies
    sent = json.loads(body)["records"]
    assert [r["data"]["CF_XDR_ZJHM"] for r in sent] == [mask_id(person_id(i)) for i in range(3)]
    assert all("BZ" not in r["data"] for r in sent)
    assert not any(person_id(i).encode() in body for i in range(3))


def test_verdicts_land_on_exactly_their_rows(store) -> None:
    records = stage(store, [penalty_row(i) for i in range(10)])
    queue(store, records, [SMALL, PUBLIC])
    rows = _rows(store, SMALL.code)
    key = {rid: r.idempotency_key for rid, r in rows.items()}
    ids = [r["record_id"] for r in records]
    client = RecordingClient(
        store,
        verdicts={
            key[ids[1]]: Receipt(key[ids[1]], "rejected", "E_REQUIRED", "缺少必填字段：CF_WSH"),
            key[ids[2]]: Receipt(key[ids[2]], "duplicate", None, "该幂等键已受理，未重复保存"),
            key[ids[3]]: Receipt(key[ids[3]], "duplicate", None, "该幂等键已受理，未重复保存"),
            key[ids[6]]: Receipt(key[ids[6]], "rejected", "E_FORMAT", "日期格式错误：CF_JDRQ"),
        },
    )
    result = deliver(store, SMALL, ServiceChannel(client))
    assert (result.accepted, result.duplicates, result.rejected) == (6, 2, 2)

    after = _rows(store, SMALL.code)
    outcome = {rid: (r.state, r.platform_code, r.platform_message) for rid, r in after.items()}
    assert outcome[ids[1]] == ("rejected", "E_REQUIRED", "缺少必填字段：CF_WSH")
    assert outcome[ids[6]] == ("rejected", "E_FORMAT", "日期格式错误：CF_JDRQ")
    assert outcome[ids[2]] == outcome[ids[3]] == ("accepted", None, "该幂等键已受理，未重复保存")
    for i in (0, 4, 5, 7, 8, 9):
        assert outcome[ids[i]] == ("accepted", None, None)
    assert all(r.attempts == 1 and r.completed_at is not None for r in after.values())
    # The other target's rows were not touched.
    assert {r.state for r in _rows(store, PUBLIC.code).values()} == {"pending"}


def test_settle_groups_outcomes_and_leaves_other_rows_alone(store) -> None:
    records = stage(store, [penalty_row(i) for i in range(6)])
    queue(store, records, [PROVINCIAL])
    ids = sorted(r.id for r in _rows(store, PROVINCIAL.code).values())
    with store.begin() as conn:
        outbox.settle(
            conn,
            [
                outbox.Settlement(ids[0], outbox.ACCEPTED),
                outbox.Settlement(ids[1], outbox.ACCEPTED),
                outbox.Settlement(ids[2], outbox.REJECTED, "E_X", "甲"),
                outbox.Settlement(ids[3], outbox.AWAITING),
            ],
        )
    with store.connect() as conn:
        got = {
            r.id: (r.state, r.platform_code, r.platform_message, r.completed_at is not None)
            for r in conn.execute(sa.select(outbox_table))
        }
    assert got == {
        ids[0]: ("accepted", None, None, True),
        ids[1]: ("accepted", None, None, True),
        ids[2]: ("rejected", "E_X", "甲", True),
        ids[3]: ("awaiting", None, None, False),  # handed over, not judged
        ids[4]: ("pending", None, None, False),
        ids[5]: ("pending", None, None, False),
    }


def test_claim_moves_past_rows_in_flight_but_a_new_run_resends_them(store) -> None:
    records = stage(store, [penalty_row(i) for i in range(7)])
    queue(store, records, [PROVINCIAL])
    with store.begin() as conn:
        first = outbox.claim(conn, PROVINCIAL.code, "penalty", 4)
        outbox.mark_sent(conn, [r.id for r in first])
        second = outbox.claim(conn, PROVINCIAL.code, "penalty", 4, after=first[-1].id)
        again = outbox.claim(conn, PROVINCIAL.code, "penalty", 10)
    assert len(first) == 4 and len(second) == 3
    assert not {r.id for r in first} & {r.id for r in second}
    assert [r.id for r in again] == [r.id for r in first] + [r.id for r in second]
    staged = _staged_text(store)
    assert all(r.payload_json == staged[r.record_id] for r in again)


@pytest.mark.parametrize("fail_on_call", [1, 2])
def test_a_failed_batch_alone_stays_sent(store, fail_on_call: int) -> None:
    records = stage(store, [penalty_row(i) for i in range(10)])
    queue(store, records, [SMALL])
    client = RecordingClient(store, fail_on_call=fail_on_call)
    with pytest.raises(DeliveryError):
        deliver(store, SMALL, ServiceChannel(client))
    states = Counter(r.state for r in _rows(store, SMALL.code).values())
    # Earlier batches settled, the failed one sent (its answer is unknown), the one
    # prepared meanwhile never went out and is still pending.
    settled = 4 * (fail_on_call - 1)
    assert states == +Counter(accepted=settled, sent=4, pending=10 - settled - 4)

    deliver(store, SMALL, ServiceChannel(RecordingClient(store)))
    assert Counter(r.state for r in _rows(store, SMALL.code).values()) == {"accepted": 10}


def test_service_channel_posts_the_assembled_body() -> None:
    @dataclass
    class Client:
        posted: list = field(default_factory=list)

        def post_batch(self, kind: str, body: bytes, count: int) -> list[Receipt]:
            self.posted.append((kind, body, count))
            return []

    from credit_sync.delivery.payload import Item

    items = [Item('k"1', "r\\1", "upsert", '{"A":"甲"}'), Item("k2", "r2", "withdraw", "{}")]
    client = Client()
    ServiceChannel(client).send("penalty", "b-1", items)
    [(kind, body, count)] = client.posted
    assert (kind, count) == ("penalty", 2)
    assert body == service_body("b-1", items)
    assert json.loads(body) == {
        "batch_id": "b-1",
        "records": [
            {
                "idempotency_key": 'k"1',
                "record_id": "r\\1",
                "operation": "upsert",
                "data": {"A": "甲"},
            },
            {"idempotency_key": "k2", "record_id": "r2", "operation": "withdraw", "data": {}},
        ],
    }
