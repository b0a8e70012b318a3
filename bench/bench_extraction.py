"""Extraction throughput: 1,000,000 penalty rows (~30 columns, Chinese text) from
PostgreSQL and from MariaDB into a staging store, beside the raw driver speed of the same
rows read in the same run (PostgreSQL `COPY ... TO STDOUT` into a null sink; MariaDB a
plain fetch with MySQL Connector/Python, the driver a `mysql` connection uses, and with
PyMySQL's `SSCursor`).

Every scenario runs in its own child process, so its peak RSS (VmHWM) is its own (the
staging writer is a thread of that process), and so is its CPU time. The
source rows are generated once, deterministically, and kept in a `credit_sync_bench`
database on each server; a marker table records how many rows of which dataset version
are there, so later runs start measuring at once. The tables have the index on (update
time, key) that docs/sources.md asks of a department table pulled incrementally, and a
scenario of N rows is a pull of the window that ends at row N's update time.

    python -m bench extraction [--quick]
    python -m bench.bench_extraction --scenario pg_extract --rows 100000   # one scenario
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get(
    "CREDIT_SYNC_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN_URL = os.environ.get(
    "CREDIT_SYNC_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test"
)
BENCH_DB = "credit_sync_bench"
DATASET = "penalty-v1"  # bump when the generator below changes: sources are reloaded
TABLE = "bench_cf_ajxx"
FULL, QUICK = (100_000, 1_000_000), (5_000, 20_000)

# The source layout: a case system's table, 32 columns, like sql/departments/scjg.
COLUMNS = (
    ("ajbh", "INTEGER NOT NULL PRIMARY KEY"),
    ("gxsj", "TIMESTAMP NOT NULL"),
    ("gkbz", "SMALLINT"),
    ("dsr_mc", "VARCHAR(200)"),
    ("dsr_lx", "VARCHAR(10)"),
    ("tyshxydm", "VARCHAR(30)"),
    ("gszch", "VARCHAR(30)"),
    ("zzjgdm", "VARCHAR(30)"),
    ("fddbr", "VARCHAR(50)"),
    ("fddbr_zjlx", "VARCHAR(10)"),
    ("fddbr_zjhm", "VARCHAR(30)"),
    ("dsr_zjlx", "VARCHAR(10)"),
    ("dsr_zjhm", "VARCHAR(30)"),
    ("cfjds_wh", "VARCHAR(100)"),
    ("wfxw", "VARCHAR(200)"),
    ("wfss", "VARCHAR(1000)"),
    ("cfyj", "VARCHAR(500)"),
    ("cflb", "VARCHAR(20)"),
    ("cfjg_nr", "VARCHAR(500)"),
    ("fkje", "NUMERIC(14,2)"),
    ("mswfsd", "NUMERIC(14,2)"),
    ("zkdx", "VARCHAR(200)"),
    ("cfrq", "DATE"),
    ("cfyxq", "VARCHAR(20)"),
    ("gsjzq", "VARCHAR(20)"),
    ("cfjg", "VARCHAR(100)"),
    ("cfjgdm", "VARCHAR(30)"),
    ("zt", "VARCHAR(4)"),
    ("sjly", "VARCHAR(100)"),
    ("sjlydm", "VARCHAR(30)"),
    ("bz", "VARCHAR(200)"),
    ("lrr", "VARCHAR(50)"),  # entered by: not published, not selected
)
SELECT = f"""
SELECT c.ajbh AS source_key, c.gxsj AS updated_at, c.gkbz AS public_cleared,
       c.dsr_mc AS CF_XDR_MC, c.dsr_lx AS CF_XDR_LB, c.tyshxydm AS CF_XDR_SHXYM,
       c.gszch AS CF_XDR_GSZC, c.zzjgdm AS CF_XDR_ZZJG, c.fddbr AS CF_FRDB,
       c.fddbr_zjlx AS CF_FR_ZJLX, c.fddbr_zjhm AS CF_FR_ZJHM, c.dsr_zjlx AS CF_XDR_ZJLX,
       c.dsr_zjhm AS CF_XDR_ZJHM, c.cfjds_wh AS CF_WSH, c.wfxw AS CF_WFXW, c.wfss AS CF_SY,
       c.cfyj AS CF_YJ, c.cflb AS CF_CFLB, c.cfjg_nr AS CF_NR, c.fkje / 10000.0 AS CF_NR_FK,
       c.mswfsd / 10000.0 AS CF_NR_WFFF, c.zkdx AS CF_NR_ZKDX, c.cfrq AS CF_JDRQ,
       c.cfyxq AS CF_YXQ, c.gsjzq AS CF_GSJZQ, c.cfjg AS CF_CFJG, c.cfjgdm AS CF_CFJGDM,
       c.zt AS CF_ZT, c.sjly AS CF_SJLY, c.sjlydm AS CF_SJLYDM, c.bz AS BZ
FROM {TABLE} c
"""  # a scenario's size is its window: rows 1..N are those updated by `window_end(N)`
MAPPINGS = {
    "CF_XDR_LB": {"1": "法人及非法人组织", "2": "个体工商户", "3": "自然人"},
    "CF_CFLB": {"0": "警告", "1": "罚款", "2": "没收违法所得、没收非法财物"},
    "CF_FR_ZJLX": {"01": "身份证", "02": "护照"},
    "CF_XDR_ZJLX": {"01": "身份证", "02": "护照"},
}

# --- the dataset: a pure function of the row number, identical on both servers ---------

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱覃武戴孔汤庞樊兰殷施陶洪翟安颜倪严牛温芦季俞章鲁葛伍申尤毕聂柴焦向柳邢岳齐梅莫庄辛管祝左涂谷祁时舒耿牟卜路詹关苗凌费纪靳盛童欧甄项曲成游阳裴席卫查屈鲍位覃霍翁隋植甘景薄单包司柏宁柯阮桂闵"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬斌鹏辉建国德福贵荣生海峰宏志成文兵春晓东旭晨"
_TRADES = ("商贸", "建筑工程", "餐饮服务", "农牧", "运输", "药业", "食品", "机械", "物流", "装饰")
_FORMS = ("有限公司", "有限责任公司", "合作社", "经营部", "门市部", "加工厂")
_TOWNS = ("会师", "郭城驿", "河畔", "头寨", "甘沟驿", "中川", "大沟", "四房吴", "柴家门")
_VIOLATIONS = (
    "未按规定公示年度报告",
    "销售过期食品",
    "无证经营",
    "超限运输",
    "虚假宣传",
    "未取得许可从事道路运输经营",
    "生产经营不符合安全标准的食品",
)
_BASIS = (
    "《中华人民共和国食品安全法》第一百二十四条第一款",
    "《中华人民共和国道路运输条例》第六十三条",
    "《中华人民共和国广告法》第五十五条第一款",
    "《企业信息公示暂行条例》第十七条",
)
_PROVINCE_CODES = ("91620422", "92620422", "93620422")
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_EPOCH = datetime(2026, 1, 1, 8, 0, 0)


def _pick(seq: str | tuple, i: int, salt: int) -> str:
    return seq[(i * 2654435761 + salt * 40503) % len(seq)]


def source_row(i: int) -> tuple:
    """Row `i` of the dataset. Mostly clean values, with the share of local codes, date
    formats and lower-case letters a real department has (so normalisation works)."""
    town = _pick(_TOWNS, i, 1)
    trade = _pick(_TRADES, i, 2)
    person = _pick(_SURNAMES, i, 3) + _pick(_GIVEN, i, 4) + _pick(_GIVEN, i, 5)
    natural = i % 10 == 0
    name = person if natural else f"会宁县{town}{person[1:]}{trade}{_pick(_FORMS, i, 6)}"
    body = "".join(_pick(_USCC_ALPHABET, i, 10 + k) for k in range(10))
    uscc = None if natural else _pick(_PROVINCE_CODES, i, 7) + body
    if uscc and i % 20 == 1:
        uscc = uscc.lower()
    idno = f"620422{1960 + i % 40}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}{i % 10}"
    decided = _EPOCH.date() + timedelta(days=i % 300)
    violation = _pick(_VIOLATIONS, i, 8)
    fine = (i % 50) * 1000 + 500
    category = "1" if i % 3 else "0,1"
    return (
        i,
        _EPOCH + timedelta(seconds=i * 7),
        i % 7 != 0,
        name,
        "3" if natural else ("2" if trade == "商贸" else "1"),
        uscc,
        None if natural else f"620422{i % 1_000_000_000:09d}",
        None,
        None if natural else person,
        None if natural else "01",
        None if natural else idno,
        "01" if natural else None,
        idno if natural else None,
        f"会市监罚〔2026〕{i}号",
        violation,
        f"经查，当事人{name}于{decided.isoformat()}在会宁县{town}镇{violation}，"
        f"违法所得共计{fine // 10}元，上述行为违反了相关法律法规的规定，事实清楚，证据确凿。",
        _pick(_BASIS, i, 9),
        category,
        f"罚款{fine}元" + ("，警告" if category == "0,1" else ""),
        fine,
        0 if i % 4 else fine // 5,
        None,
        decided,
        None,
        (decided + timedelta(days=365)).strftime("%Y/%m/%d" if i % 10 == 3 else "%Y-%m-%d"),
        "会宁县市场监督管理局",
        "1162042201381234XB",
        "0" if i % 97 else "1",
        "会宁县市场监督管理局",
        "1162042201381234XB",
        None if i % 5 else "当事人已按期缴纳罚款",
        _pick(_SURNAMES, i, 11) + _pick(_GIVEN, i, 12),
    )


def _batches(start: int, stop: int, size: int = 20_000) -> Iterator[list[tuple]]:
    for first in range(start, stop + 1, size):
        yield [source_row(i) for i in range(first, min(first + size, stop + 1))]


# --- the source databases, loaded once ------------------------------------------------


def _base(url: str) -> str:
    return url.rsplit("/", 1)[0]


def pg_url() -> str:
    return f"{_base(PG_ADMIN_URL)}/{BENCH_DB}"


def mariadb_url() -> str:
    return f"{_base(MARIADB_ADMIN_URL)}/{BENCH_DB}?charset=utf8mb4"


def _loaded(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("bench_marker"):
            return 0
        found = conn.execute(
            sa.text("SELECT loaded_rows FROM bench_marker WHERE dataset = :d"), {"d": DATASET}
        ).scalar()
        return int(found or 0)


def _reset(engine: sa.Engine, ddl_suffix: str = "") -> None:
    columns = ", ".join(f"{name} {ddl}" for name, ddl in COLUMNS)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {TABLE}"))
        conn.execute(sa.text("DROP TABLE IF EXISTS bench_marker"))
        conn.execute(sa.text(f"CREATE TABLE {TABLE} ({columns}){ddl_suffix}"))
        conn.execute(
            sa.text("CREATE TABLE bench_marker (dataset VARCHAR(40), loaded_rows INTEGER)")
        )


def _mark(engine: sa.Engine, rows: int) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM bench_marker"))
        conn.execute(sa.text("INSERT INTO bench_marker VALUES (:d, :n)"), {"d": DATASET, "n": rows})


def _copy_text(value: object) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)  # the generator never produces tabs, newlines or backslashes


# The index docs/sources.md asks of a department table pulled incrementally: a window on
# the update time, read in (update time, key) order, without scanning and sorting the table.
_UPDATE_INDEX = f"CREATE INDEX IF NOT EXISTS ix_{TABLE}_gxsj ON {TABLE} (gxsj, ajbh)"


def _index(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(_UPDATE_INDEX))


def ensure_pg_source(rows: int) -> str:
    """The PostgreSQL source with at least `rows` rows (loaded with COPY, kept)."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": BENCH_DB}
        ).scalar():
            conn.execute(sa.text(f"CREATE DATABASE {BENCH_DB} ENCODING 'UTF8' TEMPLATE template0"))
    admin.dispose()
    engine = sa.create_engine(pg_url())
    have = _loaded(engine)
    if have < rows:
        if have == 0:
            _reset(engine)
        print(f"[bench] loading PostgreSQL source rows {have + 1}..{rows} (COPY)", flush=True)
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            for batch in _batches(have + 1, rows):
                text = "".join("\t".join(map(_copy_text, r)) + "\n" for r in batch)
                cur.copy_expert(f"COPY {TABLE} FROM STDIN", io.StringIO(text))
            raw.commit()
            cur.execute(f"ANALYZE {TABLE}")
            raw.commit()
        finally:
            raw.close()
        _mark(engine, rows)
    _index(engine)
    engine.dispose()
    return pg_url()


def ensure_mariadb_source(rows: int) -> str:
    """The MariaDB source with at least `rows` rows (multi-row INSERTs, kept)."""
    admin = sa.create_engine(MARIADB_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS {BENCH_DB} CHARACTER SET utf8mb4"))
    admin.dispose()
    engine = sa.create_engine(mariadb_url())
    have = _loaded(engine)
    if have < rows:
        if have == 0:
            _reset(engine, " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
        print(f"[bench] loading MariaDB source rows {have + 1}..{rows} (INSERT)", flush=True)
        marks = ", ".join(["%s"] * len(COLUMNS))
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            for batch in _batches(have + 1, rows):
                # PyMySQL turns executemany of an INSERT ... VALUES into multi-row INSERTs.
                cur.executemany(f"INSERT INTO {TABLE} VALUES ({marks})", batch)
                raw.commit()
        finally:
            raw.close()
        _mark(engine, rows)
    _index(engine)
    engine.dispose()
    return mariadb_url()


# --- scenarios, each in a child process ------------------------------------------------


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _NullSink:
    """Where COPY writes: counts bytes, keeps nothing."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: str | bytes) -> int:
        self.bytes += len(data)
        return len(data)


def window_end(rows: int) -> datetime:
    """The update time of row `rows`: a window ending there holds rows 1..`rows`."""
    return _EPOCH + timedelta(seconds=rows * 7)


def _select(rows: int) -> str:
    """The rows of a scenario, as the raw readers fetch them (no order: just the rows)."""
    return f"{SELECT} WHERE c.gxsj <= '{window_end(rows):%Y-%m-%d %H:%M:%S}'"


def _pg_copy(rows: int) -> int:
    engine = sa.create_engine(pg_url())
    raw = engine.raw_connection()
    try:
        sink = _NullSink()
        raw.cursor().copy_expert(f"COPY ({_select(rows)}) TO STDOUT", sink)
        return rows
    finally:
        raw.close()


def _mariadb_login() -> dict[str, Any]:
    url = sa.make_url(mariadb_url())
    return {
        "host": url.host,
        "port": url.port or 3306,
        "user": url.username,
        "password": url.password or "",
        "database": url.database,
        "charset": "utf8mb4",
    }


def _count_fetched(conn: Any, cursor: Any, rows: int) -> int:
    """Rows of the benchmark SELECT read through `cursor` in parts, then both closed."""
    fetched = 0
    try:
        cursor.execute(_select(rows))
        while part := cursor.fetchmany(5000):
            fetched += len(part)
        cursor.close()
    finally:
        conn.close()
    return fetched


def _mariadb_cursor(rows: int) -> int:
    import pymysql
    import pymysql.cursors

    conn = pymysql.connect(**_mariadb_login(), cursorclass=pymysql.cursors.SSCursor)
    return _count_fetched(conn, conn.cursor(), rows)


def _mariadb_connector_cursor(rows: int) -> int:
    """The plain fetch of the driver a `mysql` connection uses: MySQL Connector/Python's
    C extension, unbuffered cursor."""
    import mysql.connector

    conn = mysql.connector.connect(**_mariadb_login(), use_pure=False)
    return _count_fetched(conn, conn.cursor(buffered=False), rows)


def _extract(
    source_url: str, staging_url: str, rows: int, workdir: Path, rerun: bool = False
) -> int:
    from credit_sync.config import Department, KindSource
    from credit_sync.engines import SCHEMES, database_engine
    from credit_sync.extraction import extract
    from credit_sync.schema import Kind
    from credit_sync.staging.store import open_store

    sql = workdir / "penalty.sql"
    sql.write_text(SELECT, encoding="utf-8")
    dept = Department(
        "bench",
        "基准测试局",
        "1162042201381234XB",
        "dept_bench",
        {Kind.PENALTY: KindSource(Kind.PENALTY, sql, MAPPINGS)},
    )
    store = open_store(staging_url)
    url = sa.make_url(source_url)
    if url.get_backend_name() == "mysql":  # the driver a `mysql` connection uses
        url = url.set(drivername=SCHEMES["mysql"])
    source = database_engine(url, streaming=True)  # as a department's connection opens it
    end = window_end(rows)
    if rerun:  # a full re-read of rows that are all staged and unchanged already
        extract(dept, Kind.PENALTY, source, store, logical_date=end, window_end=end)
    started = time.perf_counter()
    result = extract(
        dept, Kind.PENALTY, source, store, logical_date=end, window_end=end, full=rerun
    )
    _timings["extract"] = time.perf_counter() - started
    source.dispose()
    return result.new + result.changed + result.unchanged


_timings: dict[str, float] = {}


def scenario(name: str, rows: int, workdir: Path) -> dict:
    """One measurement; runs in the child process."""
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    if name == "pg_copy":
        done = _pg_copy(rows)
    elif name == "mariadb_cursor":
        done = _mariadb_cursor(rows)
    elif name == "mariadb_connector_cursor":
        done = _mariadb_connector_cursor(rows)
    elif name == "pg_extract":
        done = _extract(pg_url(), f"sqlite:///{workdir / 'staging.db'}", rows, workdir)
    elif name == "mariadb_extract":
        done = _extract(mariadb_url(), f"sqlite:///{workdir / 'staging.db'}", rows, workdir)
    elif name == "pg_rerun":
        done = _extract(pg_url(), f"sqlite:///{workdir / 'staging.db'}", rows, workdir, True)
    elif name == "pg_extract_pg_staging":
        done = _extract(pg_url(), _pg_staging(workdir), rows, workdir)
    else:
        raise ValueError(name)
    seconds = _timings.get("extract") or time.perf_counter() - started
    return {
        "scenario": name,
        "rows": done,
        "seconds": round(seconds, 2),
        "rows_per_s": round(done / seconds),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rss_after_imports_mb": round(baseline, 1),
        # CPU time of the whole scenario (both threads, imports included), per row
        "cpu_us_per_row": round(_cpu_seconds() / max(done, 1) * 1e6, 1),
    }


def _pg_staging(workdir: Path) -> str:
    name = f"cs_bench_staging_{workdir.name[-8:].lower()}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))
    admin.dispose()
    (workdir / "pg_staging").write_text(name)
    return f"{_base(PG_ADMIN_URL)}/{name}"


def _drop_pg_staging(workdir: Path) -> None:
    marker = workdir / "pg_staging"
    if marker.exists():
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{marker.read_text()}" WITH (FORCE)'))
        admin.dispose()


def _child(name: str, rows: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="cs-bench-") as tmp:
        try:
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.bench_extraction",
                    "--scenario",
                    name,
                    "--rows",
                    str(rows),
                    "--workdir",
                    tmp,
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).resolve().parents[1],
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
        finally:
            _drop_pg_staging(Path(tmp))
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


SCENARIOS = (
    ("pg_copy", "PostgreSQL COPY TO STDOUT (null sink)"),
    ("pg_extract", "PostgreSQL → staging (SQLite)"),
    ("mariadb_cursor", "MariaDB PyMySQL SSCursor fetch"),
    ("mariadb_connector_cursor", "MariaDB Connector/Python (C) fetch"),
    ("mariadb_extract", "MariaDB → staging (SQLite)"),
    ("pg_extract_pg_staging", "PostgreSQL → staging (PostgreSQL)"),
    ("pg_rerun", "PostgreSQL full re-read, all unchanged"),
)


def run(quick: bool = False) -> dict:
    sizes = QUICK if quick else FULL
    ensure_pg_source(max(sizes))
    ensure_mariadb_source(max(sizes))
    results = []
    load_before = _load_average()
    for rows in sizes:
        for name, _ in SCENARIOS:
            if name == "pg_extract_pg_staging" and rows != max(sizes):
                continue  # one size is enough to say what PostgreSQL staging gives
            if name == "pg_rerun" and rows != min(sizes):
                continue  # what a rerun of a past window costs, per row
            results.append(_child(name, rows))
            print(f"  {results[-1]}", flush=True)
    load_after = _load_average()
    labels = dict(SCENARIOS)
    lines = [
        f"extraction: rows/s and peak RSS per scenario (child process each); "
        f"load average before {load_before}, after {load_after}",
        "",
        f"{'scenario':<38}{'rows':>10}{'seconds':>9}{'rows/s':>9}{'peak RSS MB':>13}"
        f"{'CPU µs/row':>12}",
    ]
    for r in results:
        lines.append(
            f"{labels[r['scenario']]:<38}{r['rows']:>10}{r['seconds']:>9}"
            f"{r['rows_per_s']:>9}{r['peak_rss_mb']:>13}{r['cpu_us_per_row']:>12}"
        )
    verdicts = []
    by = {(r["scenario"], r["rows"]): r for r in results}
    small, large = sizes
    for name in ("pg_extract", "mariadb_extract"):
        a, b = by.get((name, small)), by.get((name, large))
        if not a or not b:
            continue
        growth = (b["peak_rss_mb"] - a["peak_rss_mb"]) / a["peak_rss_mb"]
        verdicts.append(
            f"{labels[name]}: {b['rows_per_s']} rows/s at {large} rows "
            f"({'meets' if b['rows_per_s'] >= 50_000 else 'MISSES'} the 50,000 rows/s target); "
            f"peak RSS {a['peak_rss_mb']} → {b['peak_rss_mb']} MB "
            f"({growth:+.0%}, {'flat' if growth < 0.15 else 'NOT flat'})"
        )
    lines += ["", *verdicts]
    return {
        "results": results,
        "load_average": {"before": load_before, "after": load_after},
        "text": "\n".join(lines),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", required=True, choices=[n for n, _ in SCENARIOS])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(scenario(args.scenario, args.rows, args.workdir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
