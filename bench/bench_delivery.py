"""Push throughput to the persisting stand-in over loopback, at 100 / 500 / 1,000 records
per batch, beside the raw HTTP round-trip floor: the same payloads posted straight from a
requests session (no outbox, no staging) to the same server in the same run.

Target (issue 4): >= 10,000 records/s at 500 per batch.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import requests
import sqlalchemy as sa

from credit_sync.codes import org_check_char, resident_id_check_char, uscc_check_char
from credit_sync.config import Target
from credit_sync.delivery.channels import ServiceChannel
from credit_sync.delivery.outbox import RecordVersion, enqueue
from credit_sync.delivery.sender import deliver
from credit_sync.hooks.platform import PlatformClient
from credit_sync.normalise import Normaliser, stable_hash
from credit_sync.schema import Kind
from credit_sync.staging.store import open_store
from credit_sync.staging.tables import staged_record
from credit_sync.standins.process import StandinProcess

AUTHORITY = "1162042201381234XB"
_T = datetime(2026, 11, 27)


def _row(n: int) -> dict:
    body = f"{n % 10**8:08d}"
    first17 = "91620422" + body + org_check_char(body)
    id17 = f"620422198{n % 10}0{n % 9 + 1}1{n % 10}{n % 1000:03d}"
    return {
        "CF_XDR_MC": f"会宁县第{n}号商贸有限公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": first17 + uscc_check_char(first17),
        "CF_FRDB": "王伟",
        "CF_FR_ZJLX": "身份证",
        "CF_FR_ZJHM": id17 + resident_id_check_char(id17),
        "CF_WSH": f"会市监处罚〔2026〕{n}号",
        "CF_WFXW": "销售过期食品",
        "CF_SY": "当事人经营的超市货架上摆放超过保质期的食品用于销售",
        "CF_YJ": "《中华人民共和国食品安全法》第一百二十四条第一款第（五）项",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款人民币2000元",
        "CF_NR_FK": 0.2,
        "CF_JDRQ": "2026-11-20",
        "CF_CFJG": "会宁县市场监督管理局",
        "CF_CFJGDM": AUTHORITY,
        "CF_ZT": "0",
        "CF_SJLY": "会宁县市场监督管理局",
        "CF_SJLYDM": AUTHORITY,
    }


def _stage(store: sa.Engine, dept: str, n: int) -> list[RecordVersion]:
    normaliser = Normaliser(Kind.PENALTY)
    rows, versions = [], []
    for i in range(n):
        payload = normaliser.normalise(_row(i)).payload
        rid = f"{dept}/penalty/{i}"
        h = stable_hash([payload, True])
        rows.append(
            {
                "record_id": rid,
                "department": dept,
                "kind": "penalty",
                "source_key": str(i),
                "business_key": payload["CF_WSH"],
                "authority_code": AUTHORITY,
                "payload": payload,
                "raw_hash": h,
                "content_hash": h,
                "notes": [],
                "problems": [],
                "public_cleared": True,
                "first_extracted_for": _T,
                "last_extracted_for": _T,
                "late": False,
                "created_at": _T,
                "updated_at": _T,
                "valid": True,
                "validated_hash": h,
            }
        )
        versions.append(RecordVersion(rid, dept, "penalty", h, payload, True))
    with store.begin() as conn:
        conn.execute(staged_record.insert(), rows)
    return versions


def run(quick: bool = False) -> dict:
    n = 2_000 if quick else 30_000
    work = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    standin = StandinProcess(
        "provincial",
        work / "standin.db",
        "bench",
        secrets.token_urlsafe(16),
        log_path=work / "standin.log",
    ).start()
    rows = []
    try:
        for batch in (100, 500, 1000):
            store = open_store(f"sqlite:///{work / f'staging-{batch}.db'}")
            dept = f"b{batch}"
            versions = _stage(store, dept, n)
            target = Target("provincial", "省平台", "service", "x", public=False, batch_size=batch)
            with store.begin() as conn:
                enqueue(conn, versions, [target], _T.date())
            client = PlatformClient(standin.base_url, standin.app_key, standin.app_secret)
            started = time.perf_counter()
            result = deliver(store, target, ServiceChannel(client))
            pipeline = n / (time.perf_counter() - started)
            assert result.accepted == n, result

            # Floor: the same payloads, pre-serialised, posted from one session.
            session = requests.Session()
            token = session.post(
                standin.base_url + "/api/v1/auth/token",
                json={"app_key": standin.app_key, "app_secret": standin.app_secret},
            ).json()
            headers = {
                "Authorization": f"Bearer {token['access_token']}",
                "Content-Type": "application/json",
            }
            bodies = []
            for start in range(0, n, batch):
                items = [
                    {
                        "idempotency_key": f"raw-{uuid.uuid4().hex}",
                        "record_id": f"raw{batch}/{v.record_id}",
                        "operation": "upsert",
                        "data": v.payload,
                    }
                    for v in versions[start : start + batch]
                ]
                bodies.append(
                    json.dumps(
                        {"batch_id": f"raw-{start}", "records": items}, ensure_ascii=False
                    ).encode()
                )
            started = time.perf_counter()
            for body in bodies:
                resp = session.post(
                    standin.base_url + "/api/v1/records/penalty", data=body, headers=headers
                )
                resp.raise_for_status()
            floor = n / (time.perf_counter() - started)
            rows.append(
                {
                    "batch_size": batch,
                    "records": n,
                    "pipeline_records_per_s": round(pipeline),
                    "raw_http_records_per_s": round(floor),
                    "pipeline_vs_floor": round(pipeline / floor, 2),
                }
            )
    finally:
        standin.stop()
    lines = [
        f"{'batch':>6} {'records':>8} {'pipeline rec/s':>15} {'raw HTTP rec/s':>15} {'ratio':>6}"
    ]
    for r in rows:
        lines.append(
            f"{r['batch_size']:>6} {r['records']:>8} {r['pipeline_records_per_s']:>15} "
            f"{r['raw_http_records_per_s']:>15} {r['pipeline_vs_floor']:>6}"
        )
    return {
        "name": "delivery",
        "target": ">= 10000 records/s at 500 per batch",
        "rows": rows,
        "text": "\n".join(lines),
    }
