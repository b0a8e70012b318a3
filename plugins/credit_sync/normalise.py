"""From a source row (canonical column names, the department's own values) to a canonical
payload, recording every change made and every value that could not be read.

No guessing: trimming, full-width to half-width, upper-casing codes, date formats and the
department's configured code mappings are applied and recorded; anything else is left as
the department wrote it and reported as a problem.

This module is the full per-value path, one definition of each rule. Extraction
normalises whole chunks with `normalise_frame`: compiled checks accept the values already
in canonical form (most of them) and hand every other value to the resolvers here; the
fast checks only ever decide that there is nothing to do.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
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
        self._mapping_note_json: dict[int, str] = {}  # by id: the notes live as long
        # Per field, the full per-value path (with a short cut for mapped codes).
        self.resolvers = {f.code: self._resolver(f) for f in self.fields}

    def normalise(self, row: Mapping[str, Any]) -> NormalisedRecord:
        """One row (canonical field code → the department's value) by the full path."""
        out = NormalisedRecord(payload={})
        for f in self.fields:
            out.payload[f.code] = self.resolvers[f.code](row.get(f.code), out)
        if self.kind is Kind.PENALTY and self.settings is not None:
            payload = out.payload
            if not payload["CF_GSJZQ"] and payload["CF_JDRQ"]:
                payload["CF_GSJZQ"], note = self.publicity_end(
                    payload["CF_JDRQ"], payload["CF_CFLB"]
                )
                out.notes.append(note)
        return out

    def publicity_end(self, decided: str, categories: str | None) -> tuple[str, dict[str, str]]:
        """CF_GSJZQ for a penalty whose source left it empty, computed from the configured
        periods, and the note saying so."""
        assert self.settings is not None
        computed = publicity_end(
            date.fromisoformat(decided), (categories or "").split(";"), self.settings
        ).isoformat()
        return computed, {"field": "CF_GSJZQ", "change": f"来源未填，按处罚类别计算为{computed}"}

    def _checked(self, f: Field, raw: object, out: NormalisedRecord) -> Any:
        try:
            return self._field(f, raw, out)
        except Exception:  # garbage must become a failure, never a crash
            out.problems.append(
                Problem(f.code, "VALUE_UNREADABLE", f"{f.label}无法识别", display_value(f, raw))
            )
            return None

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
                    out.notes.append(self.mapping_note(f, code))
                    return _STATUS_BY_LABEL.get(mapped, mapped) if status else mapped
            return self._checked(f, raw, out)

        return resolve

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
            out.notes.append(self.mapping_note(f, text))
            return table[text]
        return text

    def mapping_note(self, f: Field, text: str) -> dict[str, str]:
        note = self._mapping_notes.get((f.code, text))
        if note is None:  # one note per configured code, shared: notes are never edited
            mapped = self.mappings[f.code][text]
            note = {"field": f.code, "change": f"本单位代码“{text}”映射为“{mapped}”"}
            self._mapping_notes[(f.code, text)] = note
            self._mapping_note_json[id(note)] = canonical_json(note)
        return note

    def note_json(self, note: dict[str, str]) -> str:
        """`canonical_json(note)`, made once for each shared mapping note."""
        return self._mapping_note_json.get(id(note)) or canonical_json(note)

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


def _make_canonical_encoder(
    item_separator: str = ", ", key_separator: str = ": "
) -> Callable[[object], str]:
    """json.dumps(value, sort_keys=True, ensure_ascii=False, default=str) with these
    separators, minus the per-call set-up of the encoder (a third of its cost on a
    30-field record)."""
    c_make_encoder = getattr(_json_encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # no C accelerator: the plain encoder, same output
        return json.JSONEncoder(
            sort_keys=True,
            ensure_ascii=False,
            default=str,
            separators=(item_separator, key_separator),
        ).encode
    encode = c_make_encoder(
        None, str, _json_encoder.encode_basestring, None, key_separator, item_separator,
        True, False, True,
    )  # fmt: skip
    return lambda value: "".join(encode(value, 0))


# Notes and problems as stored (json.dumps' default separators).
canonical_json = _make_canonical_encoder()
# Staged payloads and what content hashes hash: no spaces (the staged payload is the text
# delivery sends, and Polars writes it so, column-wise, at no extra cost).
compact_json = _make_canonical_encoder(",", ":")


def stable_hash(value: object) -> str:
    """SHA-256 of the compact JSON of `value` (keys sorted, no spaces): a record's content
    hash is that of `[payload, cleared]`."""
    return hashlib.sha256(compact_json(value).encode("utf-8")).hexdigest()
