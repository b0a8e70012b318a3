"""Build staged records the way extraction would, without a department database."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from credit_sync.codes import org_check_char, resident_id_check_char, uscc_check_char
from credit_sync.config import Target
from credit_sync.delivery.outbox import RecordVersion, enqueue
from credit_sync.normalise import Normaliser, stable_hash
from credit_sync.schema import Kind, key_fields, record_id
from credit_sync.staging.tables import staged_record

AUTHORITY = "1162042201381234XB"
WHEN = datetime(2026, 11, 27, 2, 0)
TODAY = WHEN.date()


def uscc(n: int) -> str:
    body = f"{n:08d}"
    first17 = "91620422" + body + org_check_char(body)
    return first17 + uscc_check_char(first17)


def person_id(n: int) -> str:
    first17 = f"620422199001{n % 28 + 1:02d}{n % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def penalty_row(n: int, **overrides: Any) -> dict[str, Any]:
    row = {
        "CF_XDR_MC": f"张三{n}",
        "CF_XDR_LB": "自然人",
        "CF_XDR_ZJLX": "身份证",
        "CF_XDR_ZJHM": person_id(n),
        "CF_WSH": f"会市监处罚〔2026〕{n}号",
        "CF_WFXW": "销售过期食品",
        "CF_SY": "当事人销售超过保质期的食品",
        "CF_YJ": "《食品安全法》第一百二十四条",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款2000元",
        "CF_NR_FK": 0.2,
        "CF_JDRQ": "2026-11-25",
        "CF_CFJG": "会宁县市场监督管理局",
        "CF_CFJGDM": AUTHORITY,
        "CF_ZT": "0",
        "CF_SJLY": "会宁县市场监督管理局",
        "CF_SJLYDM": AUTHORITY,
    }
    row.update(overrides)
    return row


def stage(
    store: sa.Engine,
    rows: list[dict[str, Any]],
    kind: Kind = Kind.PENALTY,
    department: str = "scjg",
    cleared: bool | list[bool] = True,
    first: datetime = WHEN,
) -> list[dict[str, Any]]:
    """Insert or replace staged records (source keys 1..n) and return them as dicts."""
    normaliser = Normaliser(kind)
    keys = key_fields(kind)
    out = []
    for i, row in enumerate(rows, start=1):
        normalised = normaliser.normalise(row)
        payload = normalised.payload
        ok = cleared[i - 1] if isinstance(cleared, list) else cleared
        out.append(
            {
                "record_id": record_id(department, kind, str(i)),
                "department": department,
                "kind": kind.value,
                "source_key": str(i),
                "business_key": payload.get(keys.decision_number),
                "authority_code": payload.get(keys.authority_code),
                "payload": payload,
                "raw_hash": stable_hash([row, ok]),
                "content_hash": stable_hash([payload, ok]),
                "notes": normalised.notes,
                "problems": [p.__dict__ for p in normalised.problems],
                "public_cleared": ok,
                "source_updated_at": first,
                "first_extracted_for": first,
                "last_extracted_for": first,
                "late": False,
                "created_at": first,
                "updated_at": first,
            }
        )
    with store.begin() as conn:
        conn.execute(
            staged_record.delete().where(
                staged_record.c.record_id.in_([r["record_id"] for r in out])
            )
        )
        conn.execute(staged_record.insert(), out)
    return out


PROVINCIAL = Target(
    "provincial", "省平台", "service", "credit_provincial", public=False, batch_size=50
)
PUBLIC = Target("xybaiyin", "信用白银", "service", "credit_xybaiyin", public=True, batch_size=50)


def queue(
    store: sa.Engine, records: list[dict], targets: list[Target], as_of: date = TODAY
) -> dict[str, int]:
    """Put staged records in the outbox of `targets`, as validation does for valid ones."""
    with store.begin() as conn:
        return enqueue(conn, [RecordVersion.of(r) for r in records], targets, as_of)
