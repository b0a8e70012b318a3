"""The database (前置库) and file channels, on real PostgreSQL and MariaDB servers."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from credit_sync.codes import mask_id
from credit_sync.config import Target
from credit_sync.delivery.exchange_db import ExchangeDatabaseChannel, exchange_table
from credit_sync.delivery.files import FileChannel
from credit_sync.delivery.sender import DeliveryError, deliver
from credit_sync.hooks.platform import PlatformError
from credit_sync.reporting import status
from credit_sync.staging.tables import outbox
from credit_sync.standins.exchange_collector import collect_once
from tests.factories import penalty_row, person_id, queue, stage

TODAY = date(2026, 11, 27)
TABLES = {"penalty": "cf_exchange"}
FRONT_DB = Target(
    "frontdb",
    "省平台前置库",
    "database",
    "exchange_db",
    public=False,
    batch_size=40,
    options={"tables": TABLES},
)


def _queue(store: sa.Engine, records: list[dict], target: Target) -> None:
    queue(store, records, [target], TODAY)


def _states(store: sa.Engine) -> dict[str, int]:
    with store.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.state, sa.func.count()).group_by(outbox.c.state))
        return dict(rows.all())


class CrashAfterWrite:
    """The exchange database took the rows, then the connection dropped."""

    def __init__(self, channel: ExchangeDatabaseChannel) -> None:
        self.channel = channel

    def send(self, kind: str, batch_id: str, items: list[dict]) -> list:
        self.channel.send(kind, batch_id, items)
        raise PlatformError("connection lost after commit")


@pytest.fixture(params=["postgresql", "mariadb"])
def exchange_engine(request: pytest.FixtureRequest) -> sa.Engine:
    url = request.getfixturevalue(
        "pg_database" if request.param == "postgresql" else "mariadb_database"
    )
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def test_database_channel_waits_for_the_platform_and_never_writes_twice(
    store, exchange_engine
) -> None:
    channel = ExchangeDatabaseChannel(exchange_engine, TABLES, create=True)
    records = stage(store, [penalty_row(i) for i in range(99)] + [penalty_row(99, CF_CFJG=None)])
    _queue(store, records, FRONT_DB)

    # The connection drops after the first batch was written, before the outbox knew.
    with pytest.raises(DeliveryError):
        deliver(store, FRONT_DB, CrashAfterWrite(channel))
    assert _states(store) == {"sent": 40, "pending": 60}

    result = deliver(store, FRONT_DB, channel)
    assert result.awaiting == 100 and _states(store) == {"awaiting": 100}
    table = exchange_table(TABLES["penalty"])
    with exchange_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 100
    assert status(store)["targets"][0]["pending"] == 100  # handed over is not delivered

    assert collect_once(exchange_engine, TABLES) == {"collected": 99, "returned": 1}
    deliver(store, FRONT_DB, channel)
    assert _states(store) == {"accepted": 99, "rejected": 1}
    with store.connect() as conn:
        rejected = conn.execute(sa.select(outbox).where(outbox.c.state == "rejected")).one()
    assert rejected.record_id == records[-1]["record_id"] and rejected.platform_code == "E_REQUIRED"
    with exchange_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 100
        name = conn.execute(
            sa.select(table.c.data).where(table.c.record_id == records[5]["record_id"])
        ).scalar()
    assert json.loads(name)["CF_XDR_MC"] == "张三5"  # Chinese intact through the exchange table


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_file_channel_writes_the_template_layout_once_per_batch(
    store, tmp_path: Path, fmt: str
) -> None:
    target = Target(
        "files", "文件报送", "file", "outgoing", public=True, batch_size=30, options={"format": fmt}
    )
    records = stage(store, [penalty_row(i) for i in range(50)])
    _queue(store, records, target)
    deliver(store, target, FileChannel(tmp_path, fmt))
    files = sorted((tmp_path / "penalty").iterdir())
    assert [f.suffix for f in files] == [f".{fmt}"] * 2
    if fmt == "csv":
        with files[0].open(encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    else:
        rows = [list(r) for r in load_workbook(files[0]).active.iter_rows(values_only=True)]
    assert rows[0][:3] == [
        "记录标识",
        "操作（upsert 新增或更新 / withdraw 撤回）",
        "行政相对人名称",
    ]
    assert rows[1][:3] == ["record_id", "operation", "CF_XDR_MC"]
    column = rows[1].index("CF_XDR_ZJHM")
    assert len(rows) == 2 + 30
    assert rows[2][column] == mask_id(person_id(0))  # a public target: masked
    assert _states(store) == {"accepted": 50}
