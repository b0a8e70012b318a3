"""Check digits of the identifiers in 双公示 records.

- 统一社会信用代码 (unified social credit code, GB 32100-2015) with its embedded
  organisation code (GB 11714);
- 居民身份证号码 (resident ID number, GB 11643-1999).

Scalar functions return a `CodeProblem` (stable rule code + Chinese message) or None;
the vectorised functions take a pandas Series and return a boolean numpy array, fast
enough for millions of codes (one numpy pass over a byte matrix, no Python loop).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is for the callers; extract tasks shouldn't pay for loading it
    import pandas as pd

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 symbols: no I, O, S, V, Z
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "0123456789X"


@dataclass(frozen=True)
class CodeProblem:
    rule: str
    message: str


@dataclass(frozen=True)
class NormalisedCode:
    value: str
    changes: tuple[str, ...]  # Chinese descriptions of what normalisation did


def normalise_code(raw: object) -> NormalisedCode:
    """Trim, full-width to half-width, upper-case. Never guesses (an O stays an O)."""
    text = "" if raw is None else str(raw)
    changes: list[str] = []
    stripped = text.strip().strip("\u3000")
    if stripped != text:
        changes.append("去除首尾空格")
    half = unicodedata.normalize("NFKC", stripped)
    if half != stripped:
        changes.append("全角字符转换为半角")
    upper = half.upper()
    if upper != half:
        changes.append("小写字母转换为大写")
    return NormalisedCode(upper, tuple(changes))


def org_check_char(body: str) -> str:
    total = sum(_org_value(c) * w for c, w in zip(body, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def _org_value(char: str) -> int:
    return int(char) if char.isdigit() else ord(char) - ord("A") + 10


def uscc_check_char(first17: str) -> str:
    """The 18th character for the first 17 characters of a credit code."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def check_uscc(code: str) -> CodeProblem | None:
    """Validate a normalised unified social credit code."""
    if len(code) != 18:
        return CodeProblem("USCC_LENGTH", f"统一社会信用代码应为18位，实为{len(code)}位")
    for pos, char in enumerate(code, start=1):
        if char not in USCC_ALPHABET:
            return CodeProblem(
                "USCC_CHARSET",
                f"统一社会信用代码第{pos}位字符“{char}”不合法（只能是数字和除I、O、S、V、Z以外的大写字母）",
            )
    body = code[8:16]
    if not all(c.isdigit() or "A" <= c <= "Z" for c in body):
        return CodeProblem("USCC_CHARSET", "统一社会信用代码中的组织机构代码含不合法字符")
    org_expected = org_check_char(body)
    if code[16] != org_expected:
        return CodeProblem(
            "USCC_ORG_CHECKSUM",
            f"统一社会信用代码中组织机构代码校验位错误：应为 {org_expected}，实为 {code[16]}",
        )
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return CodeProblem(
            "USCC_CHECKSUM", f"统一社会信用代码校验位错误：应为 {expected}，实为 {code[17]}"
        )
    return None


def resident_id_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[(12 - total % 11) % 11]


def check_resident_id(code: str, today: date) -> CodeProblem | None:
    """Validate a normalised 18-digit resident ID number; `today` bounds the birth date.

    Messages never repeat the number itself: they may reach logs and other views.
    """
    if len(code) != 18:
        return CodeProblem("ID_LENGTH", f"身份证号码应为18位，实为{len(code)}位")
    if not code[:17].isascii() or not code[:17].isdigit() or code[17] not in ID_CHECK_CHARS:
        return CodeProblem("ID_CHARSET", "身份证号码只能由17位数字和1位数字或X组成")
    try:
        birth = date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError:
        return CodeProblem("ID_BIRTHDATE", "身份证号码中的出生日期不是有效日期")
    if birth.year < 1800:
        return CodeProblem("ID_BIRTHDATE", "身份证号码中的出生日期不是有效日期")
    if birth > today:
        return CodeProblem("ID_BIRTHDATE", "身份证号码中的出生日期晚于当前日期")
    expected = resident_id_check_char(code[:17])
    if code[17] != expected:
        return CodeProblem("ID_CHECKSUM", f"身份证号码校验位错误：应为 {expected}，实为 {code[17]}")
    return None


def mask_id(code: str) -> str:
    """Public form of a personal ID number: keep area code and last four, e.g. 620422********123X."""
    if len(code) <= 10:
        return "*" * len(code)
    return code[:6] + "*" * (len(code) - 10) + code[-4:]


# --- vectorised versions -------------------------------------------------------------

_INVALID = 255  # a lookup table's value for a byte outside its alphabet


def _lut(mapping: dict[str, int]) -> np.ndarray:
    table = np.full(256, _INVALID, dtype=np.int16)  # int16: 30 x 255 still fits
    for char, value in mapping.items():
        table[ord(char)] = value
    return table


_USCC_LUT = _lut({c: i for i, c in enumerate(USCC_ALPHABET)})
_ORG_LUT = _lut({**{str(d): d for d in range(10)}, **{chr(65 + i): 10 + i for i in range(26)}})
_DIGIT_LUT = _lut({str(d): d for d in range(10)})
_ID_CHECK_LUT = _lut({c: i for i, c in enumerate(ID_CHECK_CHARS)})


def _byte_matrix(values: pd.Series, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Values of exactly `width` characters as an (n, width) byte matrix, plus their mask.

    The values are joined into one NUL-separated ASCII buffer: non-ASCII characters
    become "?" (one byte each, rejected by every lookup table) and non-strings become
    empty, so the lengths come from the separator positions, with no per-string numpy
    conversion. When every value fits, the matrix is a view of that buffer.
    """
    items = values.to_numpy(dtype=object)
    n = len(items)
    try:
        joined = "\0".join(items)
    except TypeError:  # None, numbers: never codes
        joined = "\0".join([v if type(v) is str else "" for v in items])
    buffer = np.frombuffer((joined + "\0").encode("ascii", "replace"), dtype=np.uint8)
    ends = np.flatnonzero(buffer == 0)
    if len(ends) != n:  # a value held a NUL itself: cut it out as not fitting
        return _byte_matrix_careful(items, width)
    if len(buffer) == n * (width + 1) and (ends == np.arange(width, len(buffer), width + 1)).all():
        return buffer.reshape(n, width + 1)[:, :width], np.ones(n, dtype=bool)
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1] + 1
    fits = ends - starts == width
    if not fits.any():
        return np.empty((0, width), dtype=np.uint8), fits
    # Every row of `width` bytes as a view, then one copy of those that start a value.
    return np.lib.stride_tricks.sliding_window_view(buffer, width)[starts[fits]], fits


def _byte_matrix_careful(items: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    is_text = np.fromiter((type(v) is str and "\0" not in v for v in items), bool, len(items))
    fixed = np.array(np.where(is_text, items, ""), dtype=f"U{width + 1}")
    fits = is_text & (np.char.str_len(fixed) == width)
    points = fixed[fits].view(np.uint32).reshape(-1, width + 1)[:, :width]
    return np.minimum(points, 127).astype(np.uint8), fits


def _weighted_sum(
    matrix: np.ndarray, lut: np.ndarray, weights: Sequence[int], start: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: sum of weight x symbol value from column `start` on, and whether every one
    of those symbols is in the table's alphabet.

    Column by column over long vectors: integer matrix products in numpy are slow, and
    float ones go through a BLAS whose threads stall when the other core is busy.
    """
    total = np.zeros(len(matrix), dtype=np.int32)
    worst = np.zeros(len(matrix), dtype=np.int16)
    for column, weight in enumerate(weights, start):
        value = lut[matrix[:, column]]
        np.maximum(worst, value, out=worst)
        total += weight * value
    return total, worst != _INVALID


def _valid_codes(values: pd.Series, rows_valid: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`rows_valid` over the byte matrix of the 18-character values; False for the rest."""
    matrix, fits = _byte_matrix(values, 18)
    result = np.zeros(len(values), dtype=bool)
    if len(matrix):
        result[fits] = rows_valid(matrix)
    return result


def uscc_valid(values: pd.Series) -> np.ndarray:
    """Boolean array: which values are valid credit codes (already normalised)."""
    return _valid_codes(values, _uscc_rows_valid)


def _uscc_rows_valid(matrix: np.ndarray) -> np.ndarray:
    weighted, symbols_ok = _weighted_sum(matrix, _USCC_LUT, USCC_WEIGHTS)
    last = _USCC_LUT[matrix[:, 17]]
    org_weighted, org_ok = _weighted_sum(matrix, _ORG_LUT, ORG_WEIGHTS, start=8)
    org_check = 11 - org_weighted % 11
    org_expected = np.where(
        org_check == 10, ord("X"), np.where(org_check == 11, ord("0"), org_check + ord("0"))
    )
    check = (31 - weighted % 31) % 31
    return symbols_ok & org_ok & (matrix[:, 16] == org_expected) & (last == check)


def resident_id_valid(values: pd.Series, today: date) -> np.ndarray:
    """Boolean array: which values are valid 18-digit resident ID numbers (normalised)."""
    return _valid_codes(values, partial(_resident_id_rows_valid, today=today))


def _resident_id_rows_valid(matrix: np.ndarray, today: date) -> np.ndarray:
    weighted, digits_ok = _weighted_sum(matrix, _DIGIT_LUT, ID_WEIGHTS)
    last = _ID_CHECK_LUT[matrix[:, 17]]
    year, _ = _weighted_sum(matrix, _DIGIT_LUT, (1000, 100, 10, 1), start=6)
    month, _ = _weighted_sum(matrix, _DIGIT_LUT, (10, 1), start=10)
    day, _ = _weighted_sum(matrix, _DIGIT_LUT, (10, 1), start=12)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_len = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)]
    month_len = month_len + ((month == 2) & leap)
    date_ok = (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_len) & (year >= 1800)
    not_future = (
        year * 10000 + month * 100 + day <= today.year * 10000 + today.month * 100 + today.day
    )
    check = (12 - weighted % 11) % 11
    return digits_ok & (last != _INVALID) & date_ok & not_future & (last == check)
