"""Delivery against the real stand-in servers over loopback, fault mode by fault mode:
every valid record arrives exactly once (as the stand-in's read endpoint shows)."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from datetime import date

import pytest
import sqlalchemy as sa

from credit_sync.codes import mask_id
from credit_sync.delivery import outbox
from credit_sync.delivery.channels import ServiceChannel
from credit_sync.delivery.sender import DeliveryError, deliver
from credit_sync.hooks.platform import PlatformClient, RetryPolicy
from credit_sync.staging.tables import outbox as outbox_table
from tests.factories import PROVINCIAL, PUBLIC, penalty_row, person_id, queue, stage

TODAY = date(2026, 11, 27)
N = 120


def _enqueue(store: sa.Engine, records: list[dict]) -> dict[str, int]:
    return queue(store, records, [PROVINCIAL, PUBLIC], TODAY)


def _channel(standin, timeout: float = 5.0, attempts: int = 5) -> ServiceChannel:
    client = PlatformClient(
        standin.base_url,
        standin.app_key,
        standin.app_secret,
        auth=standin.auth,
        timeout=timeout,
        retry=RetryPolicy(attempts, 0.05, 2.0),
    )
    return ServiceChannel(client)


def _received(standin, department: str) -> list[dict]:
    """What the stand-in received for one department's records, in receive order."""
    client = PlatformClient(
        standin.base_url, standin.app_key, standin.app_secret, auth=standin.auth
    )
    items: list[dict] = []
    while True:
        page = client.request("GET", f"/api/v1/records?limit=10000&offset={len(items)}").json()
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            break
    return [r for r in items if r["record_id"].startswith(department + "/")]


def _states(store: sa.Engine, target: str) -> Counter:
    with store.connect() as conn:
        return Counter(
            r.state
            for r in conn.execute(
                sa.select(outbox_table.c.state).where(outbox_table.c.target == target)
            )
        )


@pytest.fixture
def platforms(shared_platforms):
    for standin in shared_platforms:
        standin.set_faults()  # clean slate: no faults, empty script
    return shared_platforms


@pytest.fixture
def dept() -> str:
    """A department code of this test's own, so shared stand-ins keep tests apart."""
    return f"d{uuid.uuid4().hex[:8]}"


def test_records_reach_both_targets_once_with_ids_masked_on_the_public_one(
    store, platforms, dept
) -> None:
    provincial, public = platforms
    records = stage(
        store,
        [penalty_row(i) for i in range(N)],
        cleared=[i % 10 != 0 for i in range(N)],
        department=dept,
    )
    assert _enqueue(store, records) == {"provincial": N, "xybaiyin": N - N // 10}
    deliver(store, PROVINCIAL, _channel(provincial))
    deliver(store, PUBLIC, _channel(public))

    full = _received(provincial, dept)
    assert sorted(r["record_id"] for r in full) == sorted(r["record_id"] for r in records)
    assert {r["data"]["CF_XDR_ZJHM"] for r in full} == {person_id(i) for i in range(N)}
    shown = _received(public, dept)
    assert len(shown) == N - N // 10
    assert {r["data"]["CF_XDR_ZJHM"] for r in shown} == {
        mask_id(person_id(i)) for i in range(N) if i % 10
    }
    assert _states(store, "provincial") == {"accepted": N}

    # Nothing new: nothing queued, nothing sent.
    assert _enqueue(store, records) == {"provincial": 0, "xybaiyin": 0}
    deliver(store, PROVINCIAL, _channel(provincial))
    assert len(_received(provincial, dept)) == N


@pytest.mark.parametrize(
    "script",
    [
        ["reset"],
        ["reset", "reset"],
        ["timeout"],
        ["error", "error", "error"],
        ["rate_limit"],
        ["ok", "reset", "ok", "timeout"],
    ],
)
def test_each_fault_mode_still_delivers_exactly_once(
    store, platforms, dept, script: list[str]
) -> None:
    provincial, _ = platforms
    provincial.set_faults(script=script, timeout_sleep_s=1.5, retry_after=1)
    records = stage(store, [penalty_row(i) for i in range(N)], department=dept)
    _enqueue(store, records)
    deliver(store, PROVINCIAL, _channel(provincial, timeout=0.8))
    received = Counter(r["idempotency_key"] for r in _received(provincial, dept))
    assert len(received) == N and set(received.values()) == {1}
    assert _states(store, "provincial") == {"accepted": N}


def test_exhausted_retries_fail_the_task_and_the_rerun_finishes_without_duplicates(
    store, platforms, dept
) -> None:
    provincial, _ = platforms
    provincial.set_faults(script=["ok", "reset", "reset"])
    records = stage(store, [penalty_row(i) for i in range(N)], department=dept)
    _enqueue(store, records)
    with pytest.raises(DeliveryError, match="target provincial"):
        deliver(store, PROVINCIAL, _channel(provincial, attempts=2))
    assert _states(store, "provincial")["sent"] == 50  # the batch whose answer was lost
    deliver(store, PROVINCIAL, _channel(provincial))  # Airflow's retry of the task
    received = Counter(r["idempotency_key"] for r in _received(provincial, dept))
    assert len(received) == N and set(received.values()) == {1}


def test_per_record_rejections_are_stored_not_retried(store, platforms, dept) -> None:
    provincial, _ = platforms
    records = stage(
        store,
        [penalty_row(i) for i in range(10)] + [penalty_row(10, CF_CFJG=None)],
        department=dept,
    )
    _enqueue(store, records)
    result = deliver(store, PROVINCIAL, _channel(provincial))
    assert (result.accepted, result.rejected, result.batches) == (10, 1, 1)
    with store.connect() as conn:
        row = conn.execute(
            sa.select(outbox_table).where(outbox_table.c.state == outbox.REJECTED)
        ).one()
    assert row.record_id == records[-1]["record_id"]
    assert row.platform_code == "E_REQUIRED" and "CF_CFJG" in row.platform_message

    # The department fixes the record: the new version replaces the rejection.
    fixed = stage(store, [penalty_row(i) for i in range(11)], department=dept)
    _enqueue(store, fixed)
    deliver(store, PROVINCIAL, _channel(provincial))
    assert _states(store, "provincial") == {"accepted": 11, "superseded": 1}


def test_revocation_withdraws_from_public_and_updates_provincial(store, platforms, dept) -> None:
    provincial, public = platforms
    records = stage(store, [penalty_row(i) for i in range(3)], department=dept)
    _enqueue(store, records)
    deliver(store, PROVINCIAL, _channel(provincial))
    deliver(store, PUBLIC, _channel(public))
    revoked = stage(
        store, [penalty_row(0, CF_ZT="1"), penalty_row(1), penalty_row(2)], department=dept
    )
    assert _enqueue(store, revoked) == {"provincial": 1, "xybaiyin": 1}
    deliver(store, PROVINCIAL, _channel(provincial))
    deliver(store, PUBLIC, _channel(public))
    client = PlatformClient(public.base_url, public.app_key, public.app_secret)
    current = client.request("GET", "/api/v1/current?kind=penalty").json()
    mine = sorted(r["record_id"] for r in current["items"] if r["record_id"].startswith(dept + "/"))
    assert mine == sorted(r["record_id"] for r in records[1:])
    latest = [r for r in _received(provincial, dept) if r["record_id"] == records[0]["record_id"]][
        -1
    ]
    assert latest["operation"] == "upsert" and latest["data"]["CF_ZT"] == "1"


def test_a_down_target_fails_alone(store, platforms, dept, standin_factory) -> None:
    _, public = platforms
    provincial = standin_factory("provincial", name="doomed")
    provincial.stop()
    records = stage(store, [penalty_row(i) for i in range(5)], department=dept)
    _enqueue(store, records)
    with pytest.raises(DeliveryError, match="provincial"):
        deliver(store, PROVINCIAL, _channel(provincial, attempts=2))
    deliver(store, PUBLIC, _channel(public))
    assert _states(store, "xybaiyin") == {"accepted": 5}


def test_logs_hold_no_credentials_and_no_full_id_numbers(store, platforms, dept, caplog) -> None:
    provincial, _ = platforms
    provincial.set_faults(script=["error", "rate_limit", "reset"], retry_after=0)
    records = stage(store, [penalty_row(i) for i in range(20)], department=dept)
    _enqueue(store, records)
    with caplog.at_level(logging.DEBUG):
        deliver(store, PROVINCIAL, _channel(provincial))
    text = caplog.text + provincial.log_path.read_text(errors="replace")
    assert "retry" in text  # the faults did happen and were logged
    assert provincial.app_secret not in text
    assert not any(person_id(i) in text for i in range(20))


def test_expired_publicity_is_withdrawn_from_public_only(store, platforms, dept) -> None:
    from credit_sync.delivery.withdrawals import enqueue_expired
    from credit_sync.staging.tables import staged_record

    provincial, public = platforms
    records = stage(
        store,
        [penalty_row(0, CF_GSJZQ="2026-12-31"), penalty_row(1, CF_GSJZQ="2027-06-30")],
        department=dept,
    )
    with store.begin() as conn:
        conn.execute(staged_record.update().values(valid=True))
    _enqueue(store, records)
    deliver(store, PUBLIC, _channel(public))
    deliver(store, PROVINCIAL, _channel(provincial))
    assert enqueue_expired(store, [PROVINCIAL, PUBLIC], date(2026, 12, 31)) == {"xybaiyin": 0}
    assert enqueue_expired(store, [PROVINCIAL, PUBLIC], date(2027, 1, 1)) == {"xybaiyin": 1}
    assert enqueue_expired(store, [PROVINCIAL, PUBLIC], date(2027, 1, 2)) == {"xybaiyin": 0}  # once
    deliver(store, PUBLIC, _channel(public))
    withdrawn = [r for r in _received(public, dept) if r["operation"] == "withdraw"]
    assert [r["record_id"] for r in withdrawn] == [records[0]["record_id"]]
    assert len(_received(provincial, dept)) == 2  # the provincial platform keeps its history
