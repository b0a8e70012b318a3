from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from credit_sync import codes

REAL_USCC = Path(__file__).parent / "data" / "real-uscc.txt"  # copy of shared/domain/testdata
TODAY = date(2026, 11, 27)


def real_codes() -> list[str]:
    lines = REAL_USCC.read_text().splitlines()
    values = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert len(values) == 200
    return values


def test_every_published_credit_code_is_valid() -> None:
    values = real_codes()
    assert [c for c in values if codes.check_uscc(c)] == []
    assert codes.uscc_valid(pd.Series(values)).all()


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("91620422MA74XG2L4", "USCC_LENGTH"),
        ("91620422MA74XG2LO4", "USCC_CHARSET"),  # letter O where a zero belongs: no guessing
        ("911522010783762861", "USCC_CHECKSUM"),
        ("911522010783762760", "USCC_ORG_CHECKSUM"),
    ],
)
def test_uscc_problems_have_rule_codes(code: str, rule: str) -> None:
    problem = codes.check_uscc(code)
    assert problem is not None and problem.rule == rule
    assert not codes.uscc_valid(pd.Series([code]))[0]


def test_uscc_checksum_message_names_expected_and_actual() -> None:
    problem = codes.check_uscc("911522010783762861")
    assert problem is not None
    assert problem.message == "统一社会信用代码校验位错误：应为 0，实为 1"


def test_registration_authority_letters_are_accepted() -> None:
    for first in "ANY":
        body = "12345678"
        first17 = first + "1620422" + body + codes.org_check_char(body)
        code = first17 + codes.uscc_check_char(first17)
        assert codes.check_uscc(code) is None, code


def _id(birth: str, seq: str = "123") -> str:
    first17 = "620422" + birth + seq
    return first17 + codes.resident_id_check_char(first17)


def test_resident_id_rules() -> None:
    good = _id("19900101")
    assert codes.check_resident_id(good, TODAY) is None
    assert codes.check_resident_id(_id("20230229"), TODAY).rule == "ID_BIRTHDATE"
    assert codes.check_resident_id(_id("20261128"), TODAY).rule == "ID_BIRTHDATE"  # future
    assert (
        codes.check_resident_id(good[:-1] + ("0" if good[-1] != "0" else "1"), TODAY).rule
        == "ID_CHECKSUM"
    )
    assert codes.check_resident_id(good[:17], TODAY).rule == "ID_LENGTH"


def test_lowercase_x_is_normalised_and_recorded() -> None:
    code = next(
        _id("19800101", f"{i:03d}")
        for i in range(1000)
        if _id("19800101", f"{i:03d}").endswith("X")
    )
    normalised = codes.normalise_code(" " + code.lower())
    assert normalised.value == code
    assert set(normalised.changes) == {"去除首尾空格", "小写字母转换为大写"}
    assert codes.check_resident_id(normalised.value, TODAY) is None


def test_full_width_is_normalised_never_guessed() -> None:
    full = "".join(chr(ord(c) + 0xFEE0) for c in "911522010783762860")
    assert codes.normalise_code(full).value == "911522010783762860"
    assert codes.normalise_code("9115220107837628O0").value == "9115220107837628O0"


def test_mask_keeps_area_and_last_four() -> None:
    assert codes.mask_id("62042219900101123X") == "620422********123X"


def test_vectorised_agrees_with_scalar_on_mixed_input() -> None:
    values = [*real_codes()[:20], "", None, "１２", "91620422MA74XG2LO4", "😀" * 18, 12345]
    series = pd.Series(values, dtype=object)
    expected = [isinstance(v, str) and codes.check_uscc(v) is None for v in values]
    assert list(codes.uscc_valid(series)) == expected


def _scalar_ids(values: list[object]) -> list[bool]:
    return [isinstance(v, str) and codes.check_resident_id(v, TODAY) is None for v in values]


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(real_codes()[:50], id="every value fits: a view of the joined buffer"),
        pytest.param([*real_codes()[:5], "9162042" + "2\0" * 5 + "1"], id="a NUL inside"),
        pytest.param([real_codes()[0] + "1", real_codes()[1][:17] + "é"], id="near misses"),
        pytest.param([], id="empty"),
    ],
)
def test_vectorised_byte_layouts_agree_with_scalar(values: list[object]) -> None:
    series = pd.Series(values, dtype=object)
    expected = [isinstance(v, str) and codes.check_uscc(v) is None for v in values]
    assert list(codes.uscc_valid(series)) == expected
    assert list(codes.resident_id_valid(series, TODAY)) == _scalar_ids(values)


_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXYZxO\0é１ "


@given(
    st.lists(
        st.one_of(
            st.text(alphabet=_CODE_CHARS, min_size=16, max_size=20),
            st.sampled_from([*real_codes()[:10], "62042219900101123X", "110105194912310021"]),
            st.none(),
            st.integers(),
        ),
        max_size=30,
    )
)
def test_vectorised_agrees_with_scalar_on_any_series(values: list[object]) -> None:
    series = pd.Series(values, dtype=object)
    expected = [isinstance(v, str) and codes.check_uscc(v) is None for v in values]
    assert list(codes.uscc_valid(series)) == expected
    assert list(codes.resident_id_valid(series, TODAY)) == _scalar_ids(values)


@st.composite
def valid_uscc(draw: st.DrawFn) -> str:
    body = draw(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8))
    head = draw(st.sampled_from(["91", "92", "93", "11", "12", "51", "52", "Y1", "A1", "N2"]))
    first17 = (
        head
        + draw(st.sampled_from(["620422", "620400", "110105"]))
        + body
        + codes.org_check_char(body)
    )
    return first17 + codes.uscc_check_char(first17)


@given(valid_uscc(), st.integers(min_value=0, max_value=17), st.sampled_from(codes.USCC_ALPHABET))
def test_every_single_character_corruption_of_a_credit_code_is_caught(
    code: str, pos: int, char: str
) -> None:
    assert codes.check_uscc(code) is None
    if code[pos] == char:
        return
    corrupted = code[:pos] + char + code[pos + 1 :]
    assert codes.check_uscc(corrupted) is not None
    assert not codes.uscc_valid(pd.Series([corrupted]))[0]


@given(
    st.dates(min_value=date(1920, 1, 1), max_value=TODAY),
    st.integers(min_value=0, max_value=999),
    st.integers(min_value=0, max_value=17),
    st.sampled_from("0123456789X"),
)
def test_every_single_character_corruption_of_an_id_is_caught(
    birth: date, seq: int, pos: int, char: str
) -> None:
    code = _id(birth.strftime("%Y%m%d"), f"{seq:03d}")
    assert codes.check_resident_id(code, TODAY) is None
    assert codes.resident_id_valid(pd.Series([code]), TODAY)[0]
    if code[pos] == char:
        return
    corrupted = code[:pos] + char + code[pos + 1 :]
    assert codes.check_resident_id(corrupted, TODAY) is not None
    assert not codes.resident_id_valid(pd.Series([corrupted]), TODAY)[0]
