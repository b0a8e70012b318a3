"""From a source row (canonical column names, the department's own values) to a canonical
payload, recording every change made and every value that could not be read.

No guessing: trimming, full-width to half-width, upper-casing codes, date formats and the
department's configured code mappings are applied and recorded; anything else is left as
the department wrote it and reported as a problem.

Extraction normalises a chunk column by column (`normalise_columns`): each field has a
cheap check that accepts a value already in canonical form (most of them) and hands every
other value to the full per-value path, which is also what `normalise` runs. One
definition of each rule; the fast checks only decide when there is nothing to do.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from json import encoder as _json_encoder
from typing import Any

from credit_sync.codes import mask_id, normalise_code
from credit_sync.config import Settings
from credit_sync.deadlines import publicity_end
from credit_sync.schema import STATUS_CODES, Field, FieldType, Kind, fields

_STATUS_BY_LABEL = {v: k for k, v in STATUS_CODES.items()}
_MULTI_SEPARATORS = re.compile(r"[;；,，|]")
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?: .*)?$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


@dataclass(frozen=True)
class Problem:
    field: str
    rule: str
    message: str
    value: str | None


@dataclass
class NormalisedRecord:
    payload: dict[str, Any]
    notes: list[dict[str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class NormalisedChunk:
    """Rows normalised column-wise: each field's values (fields in canonical order), and
    per row a record holding its notes and problems (its payload left empty)."""

    values: dict[str, list[Any]]
    records: list[NormalisedRecord]


def display_value(f: Field, value: object) -> str | None:
    """A value as it may appear in a failure list or log: personal IDs masked, long text cut."""
    if value is None:
        return None
    text = str(value)
    if f.type is FieldType.PERSONAL_ID:
        return mask_id(text)
    return text if len(text) <= 200 else text[:200] + "…"


def _text(raw: object) -> str | None:
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    text = str(raw).strip().strip("\u3000").strip()
    return text or None


def parse_date(raw: object) -> str | None:
    """ISO date for any format departments use; None when it is not a real calendar day."""
    if isinstance(raw, datetime):
        return raw.date().isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    text = _text(raw)
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text)
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if m:
            try:
                return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
            except ValueError:
                return None
    return None


def parse_amount(raw: object) -> float | None:
    if isinstance(raw, bool):
        raise ValueError
    if isinstance(raw, int | float | Decimal):
        value = float(raw)
    else:
        text = unicodedata.normalize("NFKC", _text(raw) or "").replace(",", "")
        try:
            value = float(Decimal(text))
        except InvalidOperation:
            raise ValueError(text) from None
    if math.isnan(value) or math.isinf(value):
        raise ValueError(raw)
    return value


class Normaliser:
    """Normalises rows of one kind for one department (its code mappings applied)."""

    def __init__(
        self,
        kind: Kind,
        mappings: dict[str, dict[str, str]] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.kind = Kind(kind)
        self.fields = fields(kind)
        self.mappings = mappings or {}
        self.settings = settings
        self._mapping_notes: dict[tuple[str, str], dict[str, str]] = {}
        self._shared_note_json: dict[int, str] = {}
        self._plan = [(f, self._fast_path(f), self._resolver(f)) for f in self.fields]

    def normalise(self, row: Mapping[str, Any]) -> NormalisedRecord:
        return self.normalise_columns({f.code: (row.get(f.code),) for f in self.fields}, 1)[0]

    def normalise_columns(
        self, columns: Mapping[str, Sequence[Any]], count: int
    ) -> list[NormalisedRecord]:
        """`count` rows given column-wise (field code → values); a field without a column
        is null in every row. Same result as `normalise` on each row."""
        chunk = self.normalise_chunk(columns, count)
        codes = list(chunk.values)
        for record, values in zip(
            chunk.records, zip(*chunk.values.values(), strict=True), strict=True
        ):
            record.payload = dict(zip(codes, values, strict=True))
        return chunk.records

    def normalise_chunk(self, columns: Mapping[str, Sequence[Any]], count: int) -> NormalisedChunk:
        """Like `normalise_columns`, but the payloads stay columns: extraction encodes them
        column by column and never needs a dict per row."""
        out = [NormalisedRecord(payload={}) for _ in range(count)]
        values_by_field: dict[str, list[Any]] = {}
        for f, fast, resolve in self._plan:
            raw_values = columns.get(f.code)
            if raw_values is None:
                raw_values = (None,) * count
            values = fast(raw_values)
            i = _next_full(values, 0)
            while i >= 0:
                values[i] = resolve(raw_values[i], out[i])
                i = _next_full(values, i + 1)
            values_by_field[f.code] = values
        if self.kind is Kind.PENALTY and self.settings is not None:
            self._fill_publicity_end(values_by_field, out)
        return NormalisedChunk(values_by_field, out)

    def _checked(self, f: Field, raw: object, out: NormalisedRecord) -> Any:
        try:
            return self._field(f, raw, out)
        except Exception:  # garbage must become a failure, never a crash
            out.problems.append(
                Problem(f.code, "VALUE_UNREADABLE", f"{f.label}无法识别", display_value(f, raw))
            )
            return None

    def _fast_path(self, f: Field) -> Callable[[Sequence[Any]], list[Any]]:
        """Per field: values already canonical pass as they are; `_FULL` marks the rest.

        Each check accepts only what `_field` would return unchanged, without a note or a
        problem: stripped text, upper-case ASCII codes, ISO dates, finite numbers, and
        codes the department's mappings do not mention."""
        table = self.mappings.get(f.code) or {}
        if f.type is FieldType.TEXT:
            return lambda col: [
                (v.strip() or None) if type(v) is str else (_FULL if v is not None else None)
                for v in col
            ]
        if f.type in (FieldType.USCC, FieldType.PERSONAL_ID, FieldType.LEGACY_CODE):
            return lambda col: [
                v
                if type(v) is str and v.isascii() and v.strip() is v and v and v.upper() == v
                else (_FULL if v is not None else None)
                for v in col
            ]
        if f.type is FieldType.DATE:
            return lambda col: [_iso_date_or_full(v) for v in col]
        if f.type is FieldType.AMOUNT:
            return lambda col: [_finite_float_or_full(v) for v in col]
        if f.type in (FieldType.ENUM, FieldType.MULTI_ENUM):
            multi = f.type is FieldType.MULTI_ENUM
            return lambda col: [
                v
                if type(v) is str
                and v.strip() is v
                and v
                and v not in table
                and not (multi and _MULTI_SEPARATORS.search(v))
                else (_FULL if v is not None else None)
                for v in col
            ]
        if f.type is FieldType.STATUS:
            return lambda col: [
                _STATUS_BY_LABEL.get(v, v)
                if type(v) is str and v.strip() is v and v and v not in table
                else (_FULL if v is not None else "0")
                for v in col
            ]
        return lambda col: [_FULL] * len(col)

    def _resolver(self, f: Field) -> Callable[[object, NormalisedRecord], Any]:
        """How a value the fast check refused is normalised: the full path, with a short cut
        for the commonest case, a department code its mapping translates."""
        table = self.mappings.get(f.code)
        if not table or f.type not in (FieldType.ENUM, FieldType.MULTI_ENUM, FieldType.STATUS):
            return lambda raw, out: self._checked(f, raw, out)
        multi, status = f.type is FieldType.MULTI_ENUM, f.type is FieldType.STATUS

        def resolve(raw: object, out: NormalisedRecord) -> Any:
            if type(raw) is str:
                code = raw.strip()
                mapped = table.get(code) if code else None
                if mapped and not (multi and _MULTI_SEPARATORS.search(code)):
                    out.notes.append(self._mapping_note(f, code))
                    return _STATUS_BY_LABEL.get(mapped, mapped) if status else mapped
            return self._checked(f, raw, out)

        return resolve

    def _fill_publicity_end(
        self, values: dict[str, list[Any]], out: list[NormalisedRecord]
    ) -> None:
        """CF_GSJZQ left empty at the source: computed from the configured periods."""
        ends, decided_dates, categories = values["CF_GSJZQ"], values["CF_JDRQ"], values["CF_CFLB"]
        for i, (end, decided) in enumerate(zip(ends, decided_dates, strict=True)):
            if end or not decided:
                continue
            computed = publicity_end(
                date.fromisoformat(decided), (categories[i] or "").split(";"), self.settings
            ).isoformat()
            ends[i] = computed
            out[i].notes.append(
                {"field": "CF_GSJZQ", "change": f"来源未填，按处罚类别计算为{computed}"}
            )

    def _field(self, f: Field, raw: object, out: NormalisedRecord) -> Any:
        if f.type is FieldType.DATE:
            return self._date(f, raw, out)
        if f.type is FieldType.AMOUNT:
            return self._amount(f, raw, out)
        text = _text(raw)
        if f.type is FieldType.STATUS:
            return self._status(f, text, out)
        if text is None:
            return None
        if f.type in (FieldType.USCC, FieldType.PERSONAL_ID, FieldType.LEGACY_CODE):
            code = normalise_code(text)
            for change in code.changes:
                out.notes.append({"field": f.code, "change": change})
            return code.value
        if f.type is FieldType.ENUM:
            return self._mapped(f, text, out)
        if f.type is FieldType.MULTI_ENUM:
            parts = [p.strip() for p in _MULTI_SEPARATORS.split(text) if p.strip()]
            return ";".join(self._mapped(f, p, out) for p in parts) or None
        return text

    def _mapped(self, f: Field, text: str, out: NormalisedRecord) -> str:
        table = self.mappings.get(f.code)
        if table and text in table:
            out.notes.append(self._mapping_note(f, text))
            return table[text]
        return text

    def _mapping_note(self, f: Field, text: str) -> dict[str, str]:
        note = self._mapping_notes.get((f.code, text))
        if note is None:  # one note per configured code, shared: notes are never edited
            mapped = self.mappings[f.code][text]
            note = {"field": f.code, "change": f"本单位代码“{text}”映射为“{mapped}”"}
            self._mapping_notes[(f.code, text)] = note
            self._shared_note_json[id(note)] = canonical_json(note)
        return note

    def notes_json(self, notes: list[dict[str, str]]) -> str:
        """`canonical_json(notes)`, with the text of the shared mapping notes made once
        (they live as long as this normaliser, so their ids are theirs)."""
        if not notes:
            return "[]"
        shared = self._shared_note_json
        return f"[{', '.join(shared.get(id(n)) or canonical_json(n) for n in notes)}]"

    def _date(self, f: Field, raw: object, out: NormalisedRecord) -> str | None:
        if _text(raw) is None and not isinstance(raw, date):
            return None
        iso = parse_date(raw)
        if iso is None:
            out.problems.append(
                Problem(f.code, "DATE_INVALID", f"{f.label}不是有效日期：{raw}", str(raw)[:200])
            )
            return None
        if isinstance(raw, str) and raw.strip() != iso:
            out.notes.append({"field": f.code, "change": f"日期格式“{raw.strip()}”转换为“{iso}”"})
        return iso

    def _amount(self, f: Field, raw: object, out: NormalisedRecord) -> float | None:
        if _text(raw) is None and not isinstance(raw, int | float | Decimal):
            return None
        if isinstance(raw, float) and math.isnan(raw):
            return None
        try:
            return parse_amount(raw)
        except ValueError:
            out.problems.append(
                Problem(f.code, "AMOUNT_INVALID", f"{f.label}不是数字：{raw}", str(raw)[:200])
            )
            return None

    def _status(self, f: Field, text: str | None, out: NormalisedRecord) -> str | None:
        if text is None:
            return "0"  # blank means 正常 in the standard
        text = self._mapped(f, text, out)
        if text in _STATUS_BY_LABEL:
            return _STATUS_BY_LABEL[text]
        return text


_FULL = object()  # a fast check's answer: this value needs the full per-value path


def _next_full(values: list[Any], start: int) -> int:
    try:
        return values.index(_FULL, start)  # a C scan: most columns have none
    except ValueError:
        return -1


def _iso_date_or_full(value: object) -> object:
    if value is None:
        return None
    if type(value) is date:
        return value.isoformat()
    if type(value) is datetime:
        return value.date().isoformat()
    if type(value) is str and len(value) == 10:
        try:
            if date.fromisoformat(value).isoformat() == value:
                return value
        except ValueError:
            pass
    return _FULL


def _finite_float_or_full(value: object) -> object:
    if value is None:
        return None
    if type(value) not in (Decimal, float, int):
        return _FULL
    try:
        number = float(value)  # type: ignore[arg-type]
    except (OverflowError, ValueError):  # a huge int, a signalling NaN
        return _FULL
    return number if math.isfinite(number) else _FULL


def _make_canonical_encoder(sort_keys: bool = True) -> Callable[[object], str]:
    """json.dumps(value, sort_keys=True, ensure_ascii=False, default=str), minus the
    per-call set-up of the encoder (a third of its cost on a 30-field record)."""
    c_make_encoder = getattr(_json_encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # no C accelerator: the plain encoder, same output
        return json.JSONEncoder(sort_keys=sort_keys, ensure_ascii=False, default=str).encode
    encode = c_make_encoder(
        None, str, _json_encoder.encode_basestring, None, ": ", ", ", sort_keys, False, True
    )
    return lambda value: "".join(encode(value, 0))


canonical_json = _make_canonical_encoder()
# For dicts whose keys were inserted in sorted order: the same text without sorting.
_presorted_json = _make_canonical_encoder(sort_keys=False)


def canonical_json_rows(columns: Mapping[str, Sequence[Any]]) -> list[str]:
    """`canonical_json` of one object per row, the objects given column-wise (key →
    values, every object having every key): the same text, cheaper. Each row's dict is
    built with its keys already in sorted order, so the encoder need not sort them."""
    keys = sorted(columns)
    encode = _presorted_json
    return [
        encode(dict(zip(keys, values, strict=True)))
        for values in zip(*(columns[k] for k in keys), strict=True)
    ]


def stable_hash(value: object) -> str:
    """SHA-256 of the canonical JSON of `value`: content hashes and idempotency keys."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
