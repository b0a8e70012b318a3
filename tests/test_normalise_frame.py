"""Normalising a chunk as a frame (compiled fast checks, the rest by the per-value path)
gives exactly what the per-value path gives row by row (payload, notes, problems), and
the payload text written column-wise is `compact_json`'s, which is json.dumps' own."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_sync.config import Settings
from credit_sync.normalise import Normaliser, canonical_json, compact_json, stable_hash
from credit_sync.normalise_frame import normalise_frame, payload_json
from credit_sync.schema import Kind, fields
from credit_sync.source_frames import rows_frame

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
    """The rows as a driver's chunk (a column of one Python type becomes a typed column,
    a mixed one stays objects) through `normalise_frame`, against `normalise` per row."""
    extra = {"settings": Settings()} if kind is Kind.PENALTY else {}
    normaliser = Normaliser(kind, MAPPINGS, **extra)
    codes = [f.code for f in fields(kind)]
    frame = rows_frame(codes, [tuple(r.get(c) for c in codes) for r in rows])
    got = normalise_frame(normaliser, frame)
    assert got.values.columns == codes
    payloads = payload_json(got.values).to_list()
    for i, row in enumerate(rows):
        want = normaliser.normalise(row)
        assert payloads[i] == compact_json(want.payload), row
        assert got.notes_json[i] == canonical_json(want.notes), row
        assert got.problems.get(i, []) == [p.__dict__ for p in want.problems], row


@pytest.mark.parametrize("kind", list(Kind))
def test_frame_equals_full_path_for_every_department_shaped_value(kind: Kind) -> None:
    codes = [f.code for f in fields(kind)]
    _compare(kind, [dict.fromkeys(codes, value) for value in SPECIAL_VALUES])


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("value_type", [str, int, float, Decimal, date, datetime, bytes])
def test_frame_equals_full_path_on_typed_columns(kind: Kind, value_type: type) -> None:
    """Each special value in a column of its own type (how a database sends a column):
    the compiled checks, not only the object path, are exercised for every type."""
    codes = [f.code for f in fields(kind)]
    same_type = [v for v in SPECIAL_VALUES if type(v) is value_type]
    _compare(kind, [dict.fromkeys(codes, v) for v in [*same_type, None]])


@pytest.mark.parametrize("kind", list(Kind))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_frame_equals_full_path(kind: Kind, data: st.DataObject) -> None:
    codes = [f.code for f in fields(kind)]
    rows = data.draw(
        st.lists(st.fixed_dictionaries({c: VALUES for c in codes}), min_size=1, max_size=4)
    )
    _compare(kind, rows)


TEXTS = st.one_of(SPECIAL.filter(lambda v: isinstance(v, str)), st.text(max_size=12), st.none())


@pytest.mark.parametrize("kind", list(Kind))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_frame_equals_full_path_on_text_columns(kind: Kind, data: st.DataObject) -> None:
    """Text in every column (what most sources send): every value takes the compiled
    checks, so arbitrary text (whitespace of every kind, separators, lower case, control
    characters) tests them against the per-value rules."""
    codes = [f.code for f in fields(kind)]
    rows = data.draw(
        st.lists(st.fixed_dictionaries({c: TEXTS for c in codes}), min_size=1, max_size=6)
    )
    _compare(kind, rows)


# Amounts as plain decimal text (PostgreSQL's numeric as COPY writes it): long digit
# strings, negative zero, leading zeros, and beyond the float range.
DECIMAL_TEXTS = st.one_of(
    st.from_regex(r"-?[0-9]{1,25}(\.[0-9]{1,25})?", fullmatch=True),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f")),
    st.sampled_from(["-0", "-0.00", "0007.10", "1" + "0" * 400, "0." + "0" * 400 + "1"]),
    st.none(),
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.fixed_dictionaries({"CF_NR_FK": DECIMAL_TEXTS, "CF_NR_WFFF": DECIMAL_TEXTS}),
        min_size=1,
        max_size=6,
    )
)
def test_amounts_as_decimal_text_equal_the_full_path(rows: list[dict]) -> None:
    _compare(Kind.PENALTY, rows)


def test_python_whitespace_is_the_compiled_checks_whitespace() -> None:
    """str.strip() and the frame checks agree on what whitespace is, code point by code
    point: a disagreement would let a value with an edge space pass as canonical."""
    from credit_sync.normalise_frame import WHITESPACE

    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert sorted(WHITESPACE) == spaces


def test_missing_columns_are_null_and_blank_status_is_normal() -> None:
    frame = rows_frame(["XK_XDR_MC"], [("甲",)])
    got = normalise_frame(Normaliser(Kind.PERMIT), frame)
    (record,) = got.values.to_dicts()
    assert record["XK_XDR_MC"] == "甲"
    assert record["XK_ZT"] == "0"
    assert record["XK_JDRQ"] is None
    assert list(record) == [f.code for f in fields(Kind.PERMIT)]


@settings(max_examples=200, deadline=None)
@given(
    payload=st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.none(), st.text(), st.floats(), st.integers(), st.booleans()),
    ),
    cleared=st.booleans(),
)
def test_canonical_and_compact_json_are_json_dumps(payload: dict, cleared: bool) -> None:
    value = [payload, cleared]
    assert canonical_json(value) == json.dumps(
        value, sort_keys=True, ensure_ascii=False, default=str
    )
    assert compact_json(value) == json.dumps(
        value, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":")
    )
    # what the content hash is made of, from the staged payload's text
    assert compact_json(value) == f"[{compact_json(payload)},{json.dumps(cleared)}]"
    assert stable_hash(value) == hashlib.sha256(compact_json(value).encode()).hexdigest()


TRICKY_TEXT = [
    "会宁县堃喆商贸有限公司",
    "𠮷㐀䶮",
    'a"b\\c',
    "line\nbreak\ttab\x00\x1f",
    "\u2028",
    "",
]


@settings(max_examples=300, deadline=None)
@given(
    keys=st.lists(st.text(max_size=6), min_size=1, max_size=6, unique=True),
    data=st.data(),
)
def test_payload_json_is_compact_json_of_each_row(keys: list[str], data: st.DataObject) -> None:
    """The staged payload (and so the content hash and the idempotency keys) must not
    change by a byte when it is written column-wise: text of every kind, and floats of
    every magnitude (Polars and Python write some differently; those go through repr)."""
    import polars as pl

    kinds = data.draw(st.lists(st.booleans(), min_size=len(keys), max_size=len(keys)))
    value_of = {
        k: st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))
        if is_float
        else st.one_of(st.none(), st.text(), st.sampled_from(TRICKY_TEXT))
        for k, is_float in zip(keys, kinds, strict=True)
    }
    rows = data.draw(st.lists(st.fixed_dictionaries(value_of), min_size=1, max_size=5))
    frame = pl.DataFrame(
        {
            k: pl.Series([r[k] for r in rows], dtype=pl.Float64 if is_float else pl.String)
            for k, is_float in zip(keys, kinds, strict=True)
        }
    )
    assert payload_json(frame).to_list() == [compact_json(r) for r in rows]


def test_payload_json_takes_column_names_as_they_are() -> None:
    """Names that a Polars expression would read as a wildcard or a regular expression
    (found by the property test above) are plain keys."""
    import polars as pl

    rows = [
        {"": None, "*": "a", "^a$": "x", "a": None},
        {"": "y", "*": None, "^a$": None, "a": "b"},
    ]
    frame = pl.DataFrame({k: pl.Series([r[k] for r in rows], dtype=pl.String) for k in rows[0]})
    assert payload_json(frame).to_list() == [compact_json(r) for r in rows]


def test_chunk_query_runs_on_the_in_memory_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks' one query is collected by the in-memory engine: the default (streaming)
    cut a chunk into thousands of tasks, each a hand-over to Polars' pool thread and back
    (docs/benchmarks.md, sixth session of 2026-12-06)."""
    import polars as pl

    engines: list[object] = []
    collect = pl.LazyFrame.collect

    def recording(self: pl.LazyFrame, *args: object, **kwargs: object) -> pl.DataFrame:
        engines.append(kwargs.get("engine", "auto"))
        return collect(self, *args, **kwargs)

    monkeypatch.setattr(pl.LazyFrame, "collect", recording)
    normaliser = Normaliser(Kind.PENALTY, MAPPINGS)
    frame = rows_frame(["CF_XDR_MC", "CF_CFLB"], [("会宁县某商店", "1")])
    normalised = normalise_frame(normaliser, frame)
    assert engines == ["in-memory"]
    assert normalised.values["CF_CFLB"].to_list() == ["罚款"]
