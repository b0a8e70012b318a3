"""Stand-in for a platform's collector on a front-end exchange database (前置库): it reads
rows our database channel wrote (push_status 0), checks them with the same per-record
rules as the service-channel stand-in, and writes back 1 (已采集) or 2 (退回) with a code
and a Chinese reason.

    python -m credit_sync.standins.exchange_collector --url URL --table penalty=cf_exchange \
        --profile provincial --interval 2

The URL comes from the environment variable EXCHANGE_DB_URL when --url is omitted, so a
password never shows in `ps`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_sync.delivery.exchange_db import COLLECTED, RETURNED, WAITING, exchange_table
from credit_sync.staging.store import utcnow
from credit_sync.standins.platform import check_record


def collect_once(
    engine: Engine, tables: dict[str, str], profile: str = "provincial"
) -> dict[str, int]:
    """Judge every waiting row once; returns {"collected": n, "returned": m}."""
    counts = {"collected": 0, "returned": 0}
    for kind, name in tables.items():
        table = exchange_table(name)
        with engine.begin() as conn:
            waiting = conn.execute(
                sa.select(table.c.exchange_id, table.c.operation, table.c.data)
                .where(table.c.push_status == WAITING)
                .order_by(table.c.exchange_id)
            ).all()
            updates = []
            for exchange_id, operation, data in waiting:
                try:
                    problem = check_record(kind, operation, json.loads(data), profile)
                except ValueError:
                    problem = ("E_FORMAT", "数据不是有效的 JSON")
                status = RETURNED if problem else COLLECTED
                counts["returned" if problem else "collected"] += 1
                updates.append(
                    {
                        "b_id": exchange_id,
                        "push_status": status,
                        "feedback_code": problem[0] if problem else None,
                        "feedback_message": problem[1] if problem else None,
                        "collected_at": utcnow(),
                    }
                )
            if updates:
                conn.execute(
                    table.update()
                    .where(table.c.exchange_id == sa.bindparam("b_id"))
                    .values({k: sa.bindparam(k) for k in updates[0] if k != "b_id"}),
                    updates,
                )
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=os.environ.get("EXCHANGE_DB_URL"))
    parser.add_argument("--table", action="append", required=True, metavar="KIND=TABLE")
    parser.add_argument("--profile", choices=["provincial", "public"], default="provincial")
    parser.add_argument(
        "--interval", type=float, default=0, help="seconds between passes; 0 = once"
    )
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("set --url or EXCHANGE_DB_URL")
    tables = dict(t.split("=", 1) for t in args.table)
    engine = sa.create_engine(args.url)
    while True:
        counts = collect_once(engine, tables, args.profile)
        print(f"collected {counts['collected']}, returned {counts['returned']}", flush=True)
        if not args.interval:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
