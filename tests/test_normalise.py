from __future__ import annotations

from datetime import date, datetime

import pytest

from credit_sync.config import Settings
from credit_sync.normalise import Normaliser, parse_date
from credit_sync.schema import Kind


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("2026-11-03", "2026-11-03"),
        ("2026/11/3", "2026-11-03"),
        ("2026年11月03日", "2026-11-03"),
        ("20261103", "2026-11-03"),
        ("2026.11.03", "2026-11-03"),
        ("2026-11-03 10:22:00", "2026-11-03"),
        ("２０２６－１１－０３", "2026-11-03"),
        (datetime(2026, 11, 3, 10), "2026-11-03"),
        (date(2026, 11, 3), "2026-11-03"),
        ("2023-02-29", None),
        ("2026-13-01", None),
        ("not a date", None),
    ],
)
def test_dates_in_department_formats(raw: object, iso: str | None) -> None:
    assert parse_date(raw) == iso


def test_normalisation_is_recorded_and_mappings_applied() -> None:
    n = Normaliser(
        Kind.PENALTY,
        {
            "CF_CFLB": {"1": "罚款", "2": "没收违法所得、没收非法财物"},
            "CF_XDR_LB": {"1": "法人及非法人组织"},
        },
    )
    out = n.normalise(
        {
            "CF_XDR_MC": "  会宁县某某商贸有限公司 ",
            "CF_XDR_LB": "1",
            "CF_XDR_SHXYM": "９１６２０４２２ma74xg2l4k",
            "CF_CFLB": "1,2",
            "CF_JDRQ": "2026/11/20",
            "CF_NR_FK": "0.2",
            "CF_ZT": None,
        }
    )
    p = out.payload
    assert p["CF_XDR_MC"] == "会宁县某某商贸有限公司"
    assert p["CF_XDR_LB"] == "法人及非法人组织"
    assert p["CF_XDR_SHXYM"] == "91620422MA74XG2L4K"
    assert p["CF_CFLB"] == "罚款;没收违法所得、没收非法财物"
    assert p["CF_JDRQ"] == "2026-11-20"
    assert p["CF_NR_FK"] == 0.2
    assert p["CF_ZT"] == "0"
    changes = {(x["field"], x["change"]) for x in out.notes}
    assert ("CF_XDR_SHXYM", "全角字符转换为半角") in changes
    assert ("CF_XDR_SHXYM", "小写字母转换为大写") in changes
    assert ("CF_JDRQ", "日期格式“2026/11/20”转换为“2026-11-20”") in changes
    assert out.problems == []


def test_unreadable_values_become_problems_not_crashes() -> None:
    out = Normaliser(Kind.PENALTY).normalise(
        {
            "CF_JDRQ": "2023-02-29",
            "CF_NR_FK": "两千元",
            "CF_XDR_MC": "x" * 10_000,
            "CF_XDR_ZJHM": 6.2e17,
            "CF_WSH": b"\xe4\xbc\x9a\xff",
            "CF_SY": "😀",
        }
    )
    rules = {(p.field, p.rule) for p in out.problems}
    assert rules == {("CF_JDRQ", "DATE_INVALID"), ("CF_NR_FK", "AMOUNT_INVALID")}
    assert out.payload["CF_JDRQ"] is None and out.payload["CF_NR_FK"] is None
    assert out.payload["CF_SY"] == "😀"


def test_publicity_end_computed_when_source_leaves_it_empty() -> None:
    n = Normaliser(Kind.PENALTY, settings=Settings(penalty_grades={"警告": "轻微"}))
    warned = n.normalise({"CF_JDRQ": "2026-01-31", "CF_CFLB": "警告"}).payload
    fined = n.normalise({"CF_JDRQ": "2026-01-31", "CF_CFLB": "警告;罚款"}).payload
    given = n.normalise(
        {"CF_JDRQ": "2026-01-31", "CF_CFLB": "罚款", "CF_GSJZQ": "2026-06-30"}
    ).payload
    assert warned["CF_GSJZQ"] == "2026-04-30"  # 轻微: 3 months
    assert fined["CF_GSJZQ"] == "2027-01-31"  # the longest period wins (一般: 12 months)
    assert given["CF_GSJZQ"] == "2026-06-30"
