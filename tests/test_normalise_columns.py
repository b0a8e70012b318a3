"""The column-wise fast path of normalisation gives exactly what the full per-value path
gives (payload, notes, problems), and the canonical JSON is json.dumps' own output."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_sync.config import Settings
from credit_sync.normalise import (
    _FULL,
    Normaliser,
    canonical_json,
    canonical_json_rows,
    stable_hash,
)
from credit_sync.schema import Kind, fields

MAPPINGS = {
    "CF_CFLB": {"1": "罚款", "0": "警告", "FK": "罚款"},
    "CF_XDR_LB": {"1": "法人及非法人组织", " 2": "个体工商户"},
    "CF_ZT": {"有效": "0", "已撤销": "1"},
    "XK_ZT": {"有效": "0"},
    "XK_XKLB": {"01": "普通"},
}

SPECIAL_VALUES = [
    "",
    " ",
    "\u3000",
    "会宁县某商店",
    " 会宁县某商店\u3000",
    "91620422MA74XG2L4K",
    "91620422ma74xg2l4k",
    " 91620422MA74XG2L4K",
    "９１６２０４２２MA74XG2L4K",
    "2026-11-19",
    "2026-1-9",
    "2026/11/19",
    "2026年11月19日",
    "20261119",
    "2023-02-29",
    "2026-W47-4",
    "２０２６－１１－１９",
    "0.2",
    "两千元",
    "1",
    "0",
    "2",
    "FK",
    "1,0",
    "罚款;警告",
    "有效",
    "已撤销",
    "撤销",
    "正常",
    "01",
    "NaN",
    None,
    12,
    2.5,
    float("nan"),
    float("inf"),
    Decimal("0.15"),
    Decimal("NaN"),
    Decimal("0E-24"),
    Decimal("sNaN"),
    Decimal("1E+400"),
    10**400,
    True,
    date(2026, 11, 19),
    datetime(2026, 11, 19, 10, 30),
    b"\xe4\xbc\x9a",
]
SPECIAL = st.sampled_from(SPECIAL_VALUES)
# Department-shaped values three times as often as arbitrary ones.
VALUES = st.one_of(
    SPECIAL,
    SPECIAL,
    SPECIAL,
    st.none(),
    st.text(max_size=12),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
    st.binary(max_size=8),
)


def _compare(kind: Kind, rows: list[dict]) -> None:
    extra = {"settings": Settings()} if kind is Kind.PENALTY else {}
    reference = _full_path_only(kind, **extra)
    fast = Normaliser(kind, MAPPINGS, **extra)
    codes = [f.code for f in fields(kind)]
    columns = {c: [r.get(c) for r in rows] for c in codes}
    got = fast.normalise_columns(columns, len(rows))
    for row, record in zip(rows, got, strict=True):
        want = reference.normalise(row)
        assert canonical_json(record.payload) == canonical_json(want.payload), row
        assert record.notes == want.notes
        assert record.problems == want.problems
        assert fast.notes_json(record.notes) == canonical_json(want.notes)


@pytest.mark.parametrize("kind", list(Kind))
def test_fast_path_equals_full_path_for_every_department_shaped_value(kind: Kind) -> None:
    codes = [f.code for f in fields(kind)]
    _compare(kind, [dict.fromkeys(codes, value) for value in SPECIAL_VALUES])


def _full_path_only(kind: Kind, **kwargs) -> Normaliser:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Normaliser, "_fast_path", lambda self, f: lambda col: [_FULL] * len(col))
        return Normaliser(kind, MAPPINGS, **kwargs)


@pytest.mark.parametrize("kind", list(Kind))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_fast_path_equals_full_path(kind: Kind, data: st.DataObject) -> None:
    codes = [f.code for f in fields(kind)]
    rows = data.draw(
        st.lists(st.fixed_dictionaries({c: VALUES for c in codes}), min_size=1, max_size=4)
    )
    _compare(kind, rows)


def test_missing_columns_are_null_and_blank_status_is_normal() -> None:
    (record,) = Normaliser(Kind.PERMIT).normalise_columns({"XK_XDR_MC": ["甲"]}, 1)
    assert record.payload["XK_XDR_MC"] == "甲"
    assert record.payload["XK_ZT"] == "0"
    assert record.payload["XK_JDRQ"] is None
    assert list(record.payload) == [f.code for f in fields(Kind.PERMIT)]


@settings(max_examples=200, deadline=None)
@given(
    payload=st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.none(), st.text(), st.floats(), st.integers(), st.booleans()),
    ),
    cleared=st.booleans(),
)
def test_canonical_json_is_json_dumps(payload: dict, cleared: bool) -> None:
    value = [payload, cleared]
    assert canonical_json(value) == json.dumps(
        value, sort_keys=True, ensure_ascii=False, default=str
    )
    assert canonical_json(value) == f"[{canonical_json(payload)}, {json.dumps(cleared)}]"
    assert len(stable_hash(value)) == 64


JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.sampled_from(
        [
            "会宁县堃喆商贸有限公司",
            "𠮷㐀䶮",
            'a"b\\c',
            "line\nbreak\ttab\x00\x1f",
            "\u2028",
            "\ud800",
        ]
    ),
    st.decimals(allow_nan=False),
    st.dates(),
)


@settings(max_examples=300, deadline=None)
@given(
    keys=st.lists(st.text(max_size=6), min_size=1, max_size=6, unique=True),
    data=st.data(),
)
def test_column_wise_canonical_json_is_canonical_json_of_each_row(
    keys: list[str], data: st.DataObject
) -> None:
    """The staged payload (and so the content hash and the idempotency keys) must not
    change by a byte when it is made column-wise instead of dict by dict."""
    rows = data.draw(st.lists(st.fixed_dictionaries({k: JSON_VALUES for k in keys}), max_size=5))
    columns = {k: [r[k] for r in rows] for k in keys}
    assert canonical_json_rows(columns) == [canonical_json(r) for r in rows]


def test_column_wise_canonical_json_of_normalised_payloads() -> None:
    n = Normaliser(Kind.PENALTY, MAPPINGS, Settings())
    codes = [f.code for f in fields(Kind.PENALTY)]
    rows = [dict.fromkeys(codes, value) for value in SPECIAL_VALUES]
    chunk = n.normalise_chunk({c: [r[c] for r in rows] for c in codes}, len(rows))
    records = n.normalise_columns({c: [r[c] for r in rows] for c in codes}, len(rows))
    assert canonical_json_rows(chunk.values) == [canonical_json(r.payload) for r in records]
    assert [r.notes for r in chunk.records] == [r.notes for r in records]
