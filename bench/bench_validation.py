"""Validation throughput: the full rule set of the penalty kind (the GX suite plus the
python-side rules: unreadable values, lateness, amounts entered in 元) over 1,000,000
synthetic staged records with about 10% defects, beside a plain-pandas baseline of the
same rules on the same records in the same run.

Target (issue 3): >= 100,000 records/s for the full rule set.

    python -m bench validation [--quick]
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from credit_sync import codes
from credit_sync.codes import org_check_char, resident_id_check_char, uscc_check_char
from credit_sync.config import Settings, expectations_dir
from credit_sync.deadlines import add_months, is_working_day
from credit_sync.schema import Kind, field_map
from credit_sync.validation import CHUNK_SIZE, check_records

TODAY = date(2026, 11, 27)  # the run's reference date
RUN_AT = datetime(2026, 11, 27, 2, 0)  # first extracted (UTC): 10:00 in Huining
SEED = 20261127
_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬斌鹏辉建国德福贵荣生海峰"
_TRADES = ("商贸", "建筑工程", "餐饮服务", "农牧", "运输", "药业", "食品", "机械", "物流", "装饰")
_AUTHORITIES = (
    ("会宁县市场监督管理局", "会市监罚"),
    ("会宁县交通运输局", "会交执罚"),
    ("会宁县应急管理局", "会应急罚"),
    ("会宁县生态环境局", "会环罚"),
    ("会宁县卫生健康局", "会卫罚"),
)
_VIOLATIONS = (
    ("销售过期食品", "《中华人民共和国食品安全法》第一百二十四条第一款"),
    ("未取得道路运输经营许可擅自从事道路运输经营", "《中华人民共和国道路运输条例》第六十三条"),
    ("虚假宣传", "《中华人民共和国反不正当竞争法》第二十条"),
    ("未按规定公示年度报告", "《企业信息公示暂行条例》第十七条"),
    ("超标排放大气污染物", "《中华人民共和国大气污染防治法》第九十九条"),
)
# (categories after normalisation, share): 罚款 dominates, as in real data.
_CATEGORY_MIX = (
    ("罚款", 0.55),
    ("警告", 0.14),
    ("罚款;没收违法所得", 0.10),
    ("警告;罚款", 0.06),
    ("通报批评", 0.04),
    ("罚款;没收违法所得、没收非法财物", 0.03),
    ("暂扣许可证件;罚款", 0.03),
    ("吊销许可证件", 0.02),
    ("责令停产停业;罚款", 0.02),
    ("暂扣或者吊销许可证、暂扣或者吊销执照", 0.01),
)
_FINES_YUAN = (200, 500, 1000, 2000, 3000, 5000, 10000, 20000, 50000, 100000, 300000)
# One defect per defective record, spread over the rules (LATE comes from the dates).
_DEFECTS = (
    "name_missing",
    "uscc_check",
    "id_check",
    "rep_missing",
    "category_unknown",
    "date_future",
    "status_unknown",
    "fine_missing",
    "fine_in_yuan",
    "fine_huge",
    "licence_missing",
    "authority_code",
    "date_unreadable",
    "amount_negative",
)


def _uscc(rng: np.random.Generator, head: str) -> str:
    body = "".join(_ALPHABET[i] for i in rng.integers(0, 31, 8))
    first17 = head + body + org_check_char(body)
    return first17 + uscc_check_char(first17)


def _person_id(rng: np.random.Generator) -> str:
    birth = date(1950, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 55)))
    first17 = f"620422{birth:%Y%m%d}{int(rng.integers(0, 1000)):03d}"
    return first17 + resident_id_check_char(first17)


def _spoil(code: str) -> str:
    return code[:-1] + ("1" if code[-1] != "1" else "2")


@dataclass(frozen=True)
class Dataset:
    rows: list[dict]  # staged_record rows as validation reads them
    defects: int  # records generated with a defect


def synthetic_records(n: int, seed: int = SEED) -> Dataset:
    """`n` penalty records the way extraction stages them (normalised payloads), ~10%
    defective. Counterparties, codes and texts repeat the way they do in a county."""
    rng = np.random.default_rng(seed)
    orgs = [_uscc(rng, "91620422") for _ in range(4000)]
    shops = [_uscc(rng, "92620422") for _ in range(3000)]
    ids = [_person_id(rng) for _ in range(6000)]
    authority_codes = [_uscc(rng, "11620422") for _ in _AUTHORITIES]
    names = [
        rng.choice(list(_SURNAMES)) + "".join(rng.choice(list(_GIVEN), 2)) for _ in range(3000)
    ]
    cat_values = [c for c, _ in _CATEGORY_MIX]
    cat_p = np.array([p for _, p in _CATEGORY_MIX])
    categories = rng.choice(len(cat_values), n, p=cat_p / cat_p.sum())
    kinds = rng.choice(3, n, p=[0.7, 0.15, 0.15])  # 法人 / 个体工商户 / 自然人
    who = rng.integers(0, 3000, n)
    authority = rng.integers(0, len(_AUTHORITIES), n)
    violation = rng.integers(0, len(_VIOLATIONS), n)
    fines = rng.integers(0, len(_FINES_YUAN), n)
    # 85% decided within the last week, the rest a backlog (reported late)
    ages = np.where(rng.random(n) < 0.85, rng.integers(1, 6, n), rng.integers(10, 300, n))
    defective = rng.random(n) < 0.10
    defect_kind = rng.integers(0, len(_DEFECTS), n)
    rows = []
    for i in range(n):
        cflb = cat_values[categories[i]]
        parts = cflb.split(";")
        person = names[who[i]]
        decided = TODAY - timedelta(days=int(ages[i]))
        auth_name, prefix = _AUTHORITIES[authority[i]]
        wfxw, yj = _VIOLATIONS[violation[i]]
        fine = _FINES_YUAN[fines[i]] if "罚款" in parts else None
        content = "；".join(
            filter(
                None,
                [
                    "警告" if "警告" in parts else None,
                    f"罚款{fine}元" if fine else None,
                    "没收违法所得" if "没收违法所得" in cflb else None,
                    "吊销许可证件" if "吊销" in cflb else None,
                    "暂扣许可证件" if "暂扣许可证件" in parts else None,
                    "通报批评" if "通报批评" in parts else None,
                    "责令停产停业" if "责令停产停业" in parts else None,
                ],
            )
        )
        p = {
            "CF_XDR_MC": None,
            "CF_XDR_LB": None,
            "CF_XDR_SHXYM": None,
            "CF_XDR_GSZC": None,
            "CF_XDR_ZZJG": None,
            "CF_XDR_SWDJ": None,
            "CF_XDR_SYDW": None,
            "CF_XDR_SHZZ": None,
            "CF_FRDB": None,
            "CF_FR_ZJLX": None,
            "CF_FR_ZJHM": None,
            "CF_XDR_ZJLX": None,
            "CF_XDR_ZJHM": None,
            "CF_WSH": f"{prefix}〔{decided.year}〕{i}号",
            "CF_WFXW": wfxw,
            "CF_SY": f"经查，当事人于{decided.isoformat()}{wfxw}，事实清楚，证据确凿。",
            "CF_YJ": yj,
            "CF_CFLB": cflb,
            "CF_NR": content,
            "CF_NR_FK": fine / 10000 if fine else None,
            "CF_NR_WFFF": 0.05 if "没收违法所得" in cflb else None,
            "CF_NR_ZKDX": f"食品经营许可证JY1620422{who[i]:07d}"
            if "吊销" in cflb or "暂扣" in cflb
            else None,
            "CF_JDRQ": decided.isoformat(),
            "CF_YXQ": None,
            "CF_GSJZQ": add_months(decided, 36 if "吊销" in cflb else 12).isoformat(),
            "CF_CFJG": auth_name,
            "CF_CFJGDM": authority_codes[authority[i]],
            "CF_ZT": "0",
            "CF_SJLY": auth_name,
            "CF_SJLYDM": authority_codes[authority[i]],
            "BZ": None,
        }
        if kinds[i] == 0:
            p.update(
                CF_XDR_MC=f"会宁县{person}{_TRADES[who[i] % 10]}有限公司",
                CF_XDR_LB="法人及非法人组织",
                CF_XDR_SHXYM=orgs[who[i]],
                CF_FRDB=person,
                CF_FR_ZJLX="身份证",
                CF_FR_ZJHM=ids[who[i]],
            )
        elif kinds[i] == 1:
            p.update(
                CF_XDR_MC=f"会宁县{person}便利店",
                CF_XDR_LB="个体工商户",
                CF_XDR_SHXYM=shops[who[i]],
            )
        else:
            p.update(
                CF_XDR_MC=person,
                CF_XDR_LB="自然人",
                CF_XDR_ZJLX="身份证",
                CF_XDR_ZJHM=ids[3000 + who[i]],
            )
        problems = []
        if defective[i]:
            problems = _spoil_record(_DEFECTS[defect_kind[i]], p, rng)
        rows.append(
            {
                "record_id": f"bench/penalty/{i}",
                "business_key": p["CF_WSH"],
                "authority_code": p["CF_CFJGDM"],
                "content_hash": f"h{i}",
                "payload": p,
                "problems": problems,
                "first_extracted_for": RUN_AT,
            }
        )
    # Through JSON, as the staging store hands payloads to validation: every value its own
    # object, laid out in row order (memory layout changes the timings by tens of percent).
    decoded = json.loads(json.dumps([r["payload"] for r in rows], ensure_ascii=False))
    for row, payload in zip(rows, decoded, strict=True):
        row["payload"] = payload
    return Dataset(rows, int(defective.sum()))


def _spoil_record(defect: str, p: dict, rng: np.random.Generator) -> list[dict]:
    """Make one defect seen in real data; return normalisation's problems, if any."""
    if defect == "name_missing":
        p["CF_XDR_MC"] = None
    elif defect == "uscc_check":
        if p["CF_XDR_SHXYM"]:
            p["CF_XDR_SHXYM"] = _spoil(p["CF_XDR_SHXYM"])
        else:
            p["CF_XDR_ZJHM"] = _spoil(p["CF_XDR_ZJHM"])
    elif defect == "id_check":
        key = "CF_FR_ZJHM" if p["CF_FR_ZJHM"] else "CF_XDR_ZJHM"
        if p[key]:
            p[key] = _spoil(p[key])
        else:
            p["CF_XDR_SHXYM"] = None
    elif defect == "rep_missing":
        p["CF_FRDB"] = None
        p["CF_XDR_ZJLX"] = None
    elif defect == "category_unknown":
        p["CF_CFLB"] = "9"  # a local code nobody mapped
    elif defect == "date_future":
        p["CF_JDRQ"] = (TODAY + timedelta(days=30)).isoformat()
    elif defect == "status_unknown":
        p["CF_ZT"] = "有效"
    elif defect == "fine_missing":
        p["CF_CFLB"] = "罚款"
        p["CF_NR_FK"] = None
    elif defect == "fine_in_yuan":
        p["CF_CFLB"] = "罚款"
        p["CF_NR"] = "罚款2000元"
        p["CF_NR_FK"] = 2000.0
    elif defect == "fine_huge":
        p["CF_CFLB"] = "罚款"
        p["CF_NR"] = "罚款人民币贰仟万元整"
        p["CF_NR_FK"] = 20000.0
    elif defect == "licence_missing":
        p["CF_CFLB"] = "吊销许可证件"
        p["CF_NR_ZKDX"] = None
    elif defect == "authority_code":
        p["CF_SJLYDM"] = _spoil(p["CF_SJLYDM"])
    elif defect == "date_unreadable":
        p["CF_JDRQ"] = None
        return [
            {
                "field": "CF_JDRQ",
                "rule": "DATE_INVALID",
                "message": "处罚决定日期不是有效日期：2026年13月5日",
                "value": "2026年13月5日",
            }
        ]
    elif defect == "amount_negative":
        p["CF_NR_WFFF"] = -0.05
    return []


# --- the baseline: the same rules in plain pandas -----------------------------------------


def _missing(column: pd.Series) -> pd.Series:
    return column.isna() | column.eq("")


def _per_value(column: pd.Series, check: Any) -> pd.Series:
    """`check` once per distinct value (plain pandas: map over the uniques); nulls False."""
    uniques = column.dropna().unique()
    verdicts = pd.Series([bool(check(v)) for v in uniques], index=uniques, dtype=bool)
    return column.map(verdicts).astype("boolean").fillna(False).astype(bool)


def _iso(value: object) -> bool:
    try:
        return isinstance(value, str) and date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def _suite_masks(frame: pd.DataFrame, suite: dict, today: date) -> list[tuple[pd.Series, dict]]:
    """(failing rows, meta) per expectation of the suite JSON, evaluated with pandas.

    Written for the synthetic records (amounts are numbers or missing, no blank text);
    `run` checks it finds exactly what the real rules find."""
    out = []
    presence: dict[str, pd.Series] = {}
    for e in suite["expectations"]:
        kw, kind = e["kwargs"], e["type"]
        name = kw.get("column") or kw["column_A"]
        col = frame[name]
        if name not in presence:
            presence[name] = ~_missing(col)
        present = presence[name]
        if kind == "expect_column_values_to_not_be_null":
            bad = ~present
        elif kind == "expect_column_values_to_be_in_set":
            bad = present & ~col.isin(kw["value_set"])
        elif kind == "expect_column_values_to_be_in_set_or_multi_set":
            allowed = set(kw["value_set"])
            bad = present & ~_per_value(
                col, lambda v, a=allowed: all(p.strip() in a for p in v.split(";"))
            )
        elif kind == "expect_column_values_to_be_valid_uscc":
            bad = present & ~codes.uscc_valid(col)
        elif kind == "expect_column_values_to_be_valid_resident_id":
            bad = present & ~codes.resident_id_valid(col, today)
        elif kind == "expect_column_values_to_be_iso_dates":
            bad = present & ~_per_value(col, _iso)
        elif kind == "expect_column_values_to_be_dates_not_after":
            bad = present & _per_value(col, _iso) & (col > today.isoformat())
        elif kind == "expect_column_values_to_be_finite_numbers":
            bad = present & ~np.isfinite(pd.to_numeric(col, errors="coerce"))
        elif kind == "expect_column_values_to_not_be_negative":
            bad = present & (pd.to_numeric(col, errors="coerce") < 0)
        elif kind == "expect_column_pair_values_a_to_be_present_when_b_contains":
            wanted = set(kw["value_set"])
            calls = _per_value(
                frame[kw["column_B"]], lambda v, w=wanted: any(p.strip() in w for p in v.split(";"))
            )
            bad = ~present & calls
        else:
            raise NotImplementedError(kind)
        condition = kw.get("row_condition")
        if condition:  # the suites only use "column == value"
            bad &= frame[condition["column"]["name"]] == condition["parameter"]
        out.append((bad, e["meta"]))
    return out


_WORDS = {"CF_NR_FK": "罚款", "CF_NR_WFFF": "没收(?:违法所得|非法财物)"}


def baseline(rows: list[dict], settings: Settings) -> list[tuple[str, str, str, str]]:
    """(record_id, field, rule, severity) of every failure, by the same rules, in pandas."""
    # The same frame as the real path builds (object columns, no type inference).
    frame = pd.DataFrame(
        [r["payload"] for r in rows], columns=list(field_map(Kind.PENALTY)), dtype=object
    )
    ids = np.array([r["record_id"] for r in rows], dtype=object)
    suite = json.loads((expectations_dir() / "penalty.json").read_text("utf-8"))
    problems = [
        (r["record_id"], p["field"], p["rule"], "error") for r in rows for p in r["problems"]
    ]
    unreadable = {(rid, f) for rid, f, _, _ in problems}
    out = list(problems)
    for bad, meta in _suite_masks(frame, suite, TODAY):
        field = bad.name
        for rid in ids[bad.to_numpy(dtype=bool)]:
            if (rid, field) not in unreadable:
                out.append((rid, field, meta["rule"], meta["severity"]))
    # lateness: working days from decision to first extraction, per distinct pair
    spans = pd.DataFrame(
        {
            "decided": pd.to_datetime(frame["CF_JDRQ"], format="%Y-%m-%d", errors="coerce"),
            "first": pd.to_datetime([r["first_extracted_for"] for r in rows], utc=True)
            .tz_convert(settings.timezone)
            .normalize()
            .tz_localize(None),
        }
    )
    # working days up to each calendar day, from the first decision to the last extraction
    calendar = pd.date_range(spans["decided"].min(), spans["first"].max(), freq="D")
    upto = pd.Series([is_working_day(d.date()) for d in calendar], index=calendar).cumsum()
    days = upto.reindex(spans["first"]).to_numpy() - upto.reindex(spans["decided"]).to_numpy()
    late = days > settings.late_after_working_days  # NaN (no decision date) is never late
    out += [(rid, "CF_JDRQ", "LATE", "warning") for rid in ids[late]]
    # amounts that look entered in 元
    for field, words in _WORDS.items():
        amount = pd.to_numeric(frame[field], errors="coerce")
        stated = frame["CF_NR"].str.extract(
            rf"(?:{words})[^0-9，,。；;\n]{{0,6}}?(\d[\d,]*(?:\.\d+)?)\s*(万元|元)"
        )
        number = pd.to_numeric(stated[0].str.replace(",", ""), errors="coerce")
        yuan = number.where(stated[1] == "元")
        wan = number.where(stated[1] == "万元")
        too_big = (amount > settings.amount_suspect_above_wan) & (amount != wan)
        bad = (amount > 0) & ((amount == yuan) | too_big)
        out += [(rid, field, "AMOUNT_LOOKS_LIKE_YUAN", "warning") for rid in ids[bad.to_numpy()]]
    return out


# --- measuring ------------------------------------------------------------------------------


def _timed(fn: Any) -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds (this process and its children) and the result."""
    before, started = os.times(), time.perf_counter()
    result = fn()
    after, wall = os.times(), time.perf_counter() - started
    cpu = sum(after[:4]) - sum(before[:4])
    return wall, cpu, result


def _summary(n: int, walls: list[float], cpus: list[float]) -> dict:
    return {
        "seconds": [round(w, 2) for w in walls],
        "cpu_seconds": [round(c, 2) for c in cpus],
        "best_records_per_s": round(n / min(walls)),
        "median_records_per_s": round(n / statistics.median(walls)),
    }


def run(quick: bool = False) -> dict:
    n, repeats = (20_000, 1) if quick else (1_000_000, 3)
    settings = Settings()
    print(f"[bench] generating {n:,} records", flush=True)
    data = synthetic_records(n)
    rows = data.rows
    # GX takes seconds to import and builds caches on first use: warm up outside the clock.
    check_records(rows[:2000], Kind.PENALTY, TODAY, settings, run_name="warm-up")
    scenarios = {
        "baseline (plain pandas)": lambda: baseline(rows, settings),
        "full rule set, 1 process": lambda: check_records(
            rows, Kind.PENALTY, TODAY, settings, run_name="bench", workers=1
        ),
        "full rule set, 2 processes": lambda: check_records(
            rows, Kind.PENALTY, TODAY, settings, run_name="bench", workers=2
        ),
        # As the pipeline runs it: validate_pending checks CHUNK_SIZE records at a time.
        f"... in chunks of {CHUNK_SIZE:,}": lambda: [
            failure
            for start in range(0, n, CHUNK_SIZE)
            for failure in check_records(
                rows[start : start + CHUNK_SIZE], Kind.PENALTY, TODAY, settings, run_name="bench"
            ).failures
        ],
    }
    walls: dict[str, list[float]] = {name: [] for name in scenarios}
    cpus: dict[str, list[float]] = {name: [] for name in scenarios}
    loads = [os.getloadavg()[0]]
    counts: dict[str, Counter] = {}
    phases: list[dict] = []
    for round_no in range(repeats):  # interleaved, so each sees the same load
        for name, fn in scenarios.items():
            wall, cpu, result = _timed(fn)
            walls[name].append(wall)
            cpus[name].append(cpu)
            failures = result if isinstance(result, list) else result.failures
            counts[name] = Counter(f[2] if isinstance(f, tuple) else f.rule for f in failures)
            if not isinstance(result, list):
                phases.append(result.suite.statistics["seconds"])
            loads.append(os.getloadavg()[0])
            print(f"[bench] round {round_no + 1}: {name}: {wall:.2f} s", flush=True)
    reference = counts["baseline (plain pandas)"]
    for name, found in counts.items():  # same rules: the same failures, rule by rule
        assert found == reference, (name, found, reference)
    results = {name: _summary(n, walls[name], cpus[name]) for name in scenarios}
    lines = [
        f"{'scenario':<32} {'best rec/s':>11} {'median rec/s':>13} {'median s':>9} {'cpu s':>7}"
    ]
    for name, r in results.items():
        lines.append(
            f"{name:<32} {r['best_records_per_s']:>11,} {r['median_records_per_s']:>13,} "
            f"{statistics.median(r['seconds']):>9.2f} {statistics.median(r['cpu_seconds']):>7.2f}"
        )
    lines.append(f"records {n:,}, defective {data.defects:,}, failures {sum(reference.values()):,}")
    lines.append(f"failures by rule: {dict(sorted(reference.items()))}")
    lines.append(f"load average (1 min) during the runs: {[round(x, 2) for x in loads]}")
    return {
        "name": "validation",
        "target": ">= 100,000 records/s for the full rule set",
        "records": n,
        "defective_records": data.defects,
        "failures_by_rule": dict(sorted(reference.items())),
        "results": results,
        "gx_phase_seconds": phases,
        "load_average": loads,
        "text": "\n".join(lines),
    }
