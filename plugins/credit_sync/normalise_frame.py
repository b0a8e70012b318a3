"""Normalising a whole chunk of source rows held as a Polars frame, and writing each row's
canonical JSON, column by column in compiled code.

Per field, a Polars expression accepts the values already in canonical form (most of a
department's values) and the department's mapped codes; every other value goes to the
field's resolver in `normalise.py`, the one definition of each rule, and its result is
put back in place. A fast check only ever decides that there is nothing to do (or that a
configured mapping applies), so a chunk gives exactly what `Normaliser.normalise` gives
row by row; tests hold the two paths equal on arbitrary values.

Why: at a million rows a pull spends its time in per-value Python work (about 30 values a
row); here that work is done for the few values that need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any

import polars as pl

from credit_sync.normalise import (
    _MULTI_SEPARATORS,
    _STATUS_BY_LABEL,
    NormalisedRecord,
    Normaliser,
    canonical_json,
    compact_json,
)
from credit_sync.schema import Field, FieldType, Kind

# What Python's str.strip() removes (a test checks it code point by code point).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# ASCII without lower-case letters, and not starting or ending with ASCII whitespace:
# a code `normalise_code` returns as it is, with no note.
_CANONICAL_CODE = (
    r"^[\x00-\x08\x0e-\x1b!-`{-\x7f](?:[\x00-`{-\x7f]*[\x00-\x08\x0e-\x1b!-`{-\x7f])?$"
)
_MULTI_SEPARATOR = _MULTI_SEPARATORS.pattern
_PLAIN_DECIMAL = r"^-?[0-9]+(?:\.[0-9]+)?$"
# Floats Polars writes exactly as Python's repr does; others are written by repr.
_REPR_SAFE_MIN, _REPR_SAFE_MAX = 1e-4, 1e16

_CODE_TYPES = (FieldType.USCC, FieldType.PERSONAL_ID, FieldType.LEGACY_CODE)

# Polars' engine for a chunk's one query of checks (see normalise_frame).
IN_MEMORY = "in-memory"


@dataclass
class NormalisedFrame:
    """A chunk's normalised values (one column per field, in canonical order: text fields
    as strings, amounts as floats), each row's notes as canonical JSON text, and the
    problems of the rows with any (row position → problem dicts, in field order)."""

    values: pl.DataFrame
    notes_json: pl.Series
    problems: dict[int, list[dict[str, Any]]]


def normalise_frame(normaliser: Normaliser, frame: pl.DataFrame) -> NormalisedFrame:
    """Normalise every row of `frame` (canonical column names; a field without a column
    is null in every row). Time-zone-aware timestamps must already be naive.

    Every field's compiled checks run in one Polars query: a call per check released and
    retook the GIL a few hundred times a chunk, and each time waited for the writer and
    reader threads to hand it back. Then only the fields with values left over go to
    their resolvers."""
    height = frame.height
    missing = [f.code for f in normaliser.fields if f.code not in frame.columns]
    if missing:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Null).alias(code) for code in missing)
    checks = [
        _FieldCheck(normaliser, i, f, frame.schema[f.code]) for i, f in enumerate(normaliser.fields)
    ]
    # The in-memory engine: Polars 2's default for a query (streaming) split this chunk
    # into morsels run as a few thousand tasks, each handed to Polars' pool thread and
    # back; the pull then waited for those hand-overs (docs/benchmarks.md).
    query = frame.lazy().select(chain.from_iterable(c.expressions for c in checks))
    computed = query.collect(engine=IN_MEMORY)
    left = computed.select(pl.col(c.rest for c in checks).any()).row(0)
    values: list[pl.Series] = []
    notes: list[pl.Series] = []
    problems: dict[int, list[dict[str, Any]]] = {}
    for check, any_left in zip(checks, left, strict=True):
        value, note = check.result(computed)
        if any_left:
            positions = computed[check.rest].arg_true()
            resolved, texts = _resolve(
                normaliser,
                check.field,
                frame[check.field.code].gather(positions),
                positions,
                problems,
            )
            value = value.scatter(positions, pl.Series(resolved, dtype=value.dtype))
            if any(t is not None for t in texts):
                if note is None:
                    note = nulls(height, pl.String)
                note = note.scatter(positions, pl.Series(texts, dtype=pl.String))
        values.append(value.alias(check.field.code))
        if note is not None:
            notes.append(note)
    normalised = pl.DataFrame(values)
    if normaliser.kind is Kind.PENALTY and normaliser.settings is not None:
        normalised, note = _fill_publicity_end(normaliser, normalised)
        if note is not None:
            notes.append(note)
    if notes:
        joined = pl.concat_str(notes, separator=", ", ignore_nulls=True)
        notes_json = pl.select(
            pl.concat_str([pl.lit("["), joined.fill_null(""), pl.lit("]")])
        ).to_series()
    else:
        notes_json = pl.Series(["[]"] * height, dtype=pl.String)
    return NormalisedFrame(normalised, notes_json.alias("notes"), problems)


def nulls(height: int, dtype: pl.DataType) -> pl.Series:
    """A column of `height` nulls."""
    return pl.repeat(None, height, dtype=dtype, eager=True)


class _FieldCheck:
    """One field's compiled checks, as expressions on the source column (`expressions`):
    its value where a check accepts it (null elsewhere), the note of a configured mapping
    where one applied, and which rows are left for the resolver (`rest`)."""

    def __init__(self, normaliser: Normaliser, number: int, f: Field, dtype: pl.DataType) -> None:
        self.field = f
        self.value, self.rest = f"__value{number}", f"__rest{number}"
        self.note: str | None = None  # a column only for a field with a mapping
        column = pl.col(f.code)
        table = normaliser.mappings.get(f.code) or {}
        fast, mapped = _fast_values(f, column, dtype, table)
        output_type = pl.Float64 if f.type is FieldType.AMOUNT else pl.String
        # The rest: not null at the source, not accepted above. STATUS has no nulls left.
        rest = (
            fast.is_null() if f.type is FieldType.STATUS else fast.is_null() & column.is_not_null()
        )
        self.expressions = [fast.cast(output_type).alias(self.value), rest.alias(self.rest)]
        if mapped is not None:
            self.note = f"__note{number}"
            note_text = {
                code: normaliser.note_json(normaliser.mapping_note(f, code)) for code in table
            }
            note = column.cast(pl.String).replace_strict(
                note_text, default=None, return_dtype=pl.String
            )
            self.expressions.append(pl.when(mapped).then(note).alias(self.note))

    def result(self, computed: pl.DataFrame) -> tuple[pl.Series, pl.Series | None]:
        """(values, mapping notes or None where no row was mapped) from the query's output."""
        note = computed[self.note] if self.note else None
        if note is not None and note.null_count() == len(note):
            note = None
        return computed[self.value], note


def _resolve(
    normaliser: Normaliser,
    f: Field,
    raws: pl.Series,
    positions: pl.Series,
    problems: dict[int, list[dict[str, Any]]],
) -> tuple[list[Any], list[str | None]]:
    """The per-value path for the values the fast checks left (at `positions`): each
    distinct value is resolved once (a resolver's result depends on the value alone), so
    a department's "0,1" in every third row costs one call, not thousands."""
    resolve = normaliser.resolvers[f.code]
    if raws.dtype != pl.String:  # only text is distinct exactly as it is equal (-0.0, 1 == True)
        distinct, index = raws.to_list(), list(range(len(raws)))
    else:
        distinct_series = raws.unique(maintain_order=True)
        distinct = distinct_series.to_list()
        lookup = pl.Series(range(len(distinct)), dtype=pl.UInt32)
        index = raws.replace_strict(distinct_series, lookup, return_dtype=pl.UInt32).to_list()
    results: list[tuple[Any, str | None, list[dict[str, Any]]]] = []
    for raw in distinct:
        out = NormalisedRecord(payload={})
        value = resolve(raw, out)
        text = ", ".join(normaliser.note_json(n) for n in out.notes) if out.notes else None
        results.append((value, text, [p.__dict__ for p in out.problems]))
    resolved, texts = [], []
    for position, i in zip(positions.to_list(), index, strict=True):
        value, text, found = results[i]
        resolved.append(value)
        texts.append(text)
        if found:
            problems.setdefault(position, []).extend(dict(p) for p in found)
    return resolved, texts


def _fast_values(
    f: Field, column: pl.Expr, dtype: pl.DataType, table: dict[str, str]
) -> tuple[pl.Expr, pl.Expr | None]:
    """Per field (`column` of type `dtype`): the canonical value where a compiled check can
    give it (null elsewhere), and which rows a configured mapping translated (None when
    the field has no mapping). Each check accepts only what the resolver would return
    unchanged with no note or problem, or, for `mapped` rows, exactly the resolver's
    mapped value."""
    none = pl.lit(None, dtype=pl.String)
    if f.type is FieldType.DATE:
        if dtype == pl.Date:
            return column.dt.to_string("%Y-%m-%d"), None
        if dtype == pl.Datetime:
            return column.dt.date().dt.to_string("%Y-%m-%d"), None
        if dtype == pl.String:
            iso = column.str.to_date("%Y-%m-%d", strict=False).dt.to_string("%Y-%m-%d")
            ok = (iso == column) & ~column.str.starts_with("0000")
            return pl.when(ok.fill_null(False)).then(column), None
        return none, None
    if f.type is FieldType.AMOUNT:
        if dtype == pl.Decimal:  # exact text, then one correctly rounded conversion
            number = column.cast(pl.String).cast(pl.Float64)
        elif dtype.is_integer() or dtype.is_float():
            number = column.cast(pl.Float64)
        elif dtype == pl.String:  # plain decimal text (PostgreSQL's numeric, as COPY writes it)
            plain = column.str.contains(_PLAIN_DECIMAL).fill_null(False)
            number = pl.when(plain).then(column).cast(pl.Float64)
        else:
            return pl.lit(None, dtype=pl.Float64), None
        return pl.when(number.is_finite().fill_null(False)).then(number), None
    if dtype != pl.String:
        if f.type is FieldType.STATUS:  # blank means 正常
            return pl.when(column.is_null()).then(pl.lit("0")), None
        return none, None
    # No whitespace at either end (first and last character only: text can be long).
    edges = list(WHITESPACE)
    stripped = ~(column.str.head(1).is_in(edges) | column.str.tail(1).is_in(edges)) & (
        column.str.len_bytes() > 0
    )
    if f.type is FieldType.TEXT:
        return pl.when(stripped.fill_null(False)).then(column), None
    if f.type in _CODE_TYPES:
        ok = column.str.contains(_CANONICAL_CODE)
        return pl.when(ok.fill_null(False)).then(column), None
    # ENUM, MULTI_ENUM, STATUS: as written, or translated by the department's mapping.
    multi, status = f.type is FieldType.MULTI_ENUM, f.type is FieldType.STATUS
    single = ~column.str.contains(_MULTI_SEPARATOR) if multi else None
    known = column.is_in(list(table)) if table else None
    plain = stripped if known is None else stripped & ~known
    if single is not None:
        plain = plain & single
    value = column.replace(_STATUS_BY_LABEL) if status else column
    fast = pl.when(plain.fill_null(False)).then(value)
    mapped = None
    if known is not None:
        mapped = stripped & known
        if single is not None:
            mapped = mapped & single
        mapped = mapped.fill_null(False)
        target = {
            code: (_STATUS_BY_LABEL.get(to, to) if status else to) for code, to in table.items()
        }
        translated = column.replace_strict(target, default=None, return_dtype=pl.String)
        fast = pl.when(mapped).then(translated).otherwise(fast)
    if status:
        fast = pl.when(column.is_not_null()).then(fast).otherwise(pl.lit("0"))
    return fast, mapped


def _fill_publicity_end(
    normaliser: Normaliser, values: pl.DataFrame
) -> tuple[pl.DataFrame, pl.Series | None]:
    """CF_GSJZQ left empty at the source: computed from the configured periods."""
    missing = (values["CF_GSJZQ"].is_null() & values["CF_JDRQ"].is_not_null()).arg_true()
    if not len(missing):
        return values, None
    decided = values["CF_JDRQ"].gather(missing).to_list()
    categories = values["CF_CFLB"].gather(missing).to_list()
    computed, texts = [], []
    for day, category in zip(decided, categories, strict=True):
        end, note = normaliser.publicity_end(day, category)
        computed.append(end)
        texts.append(canonical_json(note))
    ends = values["CF_GSJZQ"].scatter(missing, pl.Series(computed, dtype=pl.String))
    notes = nulls(values.height, pl.String).scatter(missing, pl.Series(texts, dtype=pl.String))
    return values.with_columns(ends), notes


def payload_json(values: pl.DataFrame) -> pl.Series:
    """Each row's staged payload: `compact_json` of the row as a dict (keys sorted, no
    spaces, text unescaped beyond what JSON requires), byte for byte.

    Polars' JSON writer escapes text exactly as json.dumps does and writes floats as
    Python's repr does between 1e-4 and 1e16. A row holding a float outside that range is
    written by `compact_json`."""
    names = sorted(values.columns)
    if not names:
        return pl.Series("payload", ["{}"] * values.height, dtype=pl.String)
    # Columns taken by name as they are (in an expression "*" or "^…$" would be patterns)
    payloads = values[names].to_struct("payload").struct.json_encode()
    odd = pl.repeat(False, values.height, eager=True)
    for name in names:
        column = values[name]
        if column.dtype == pl.Float64:
            magnitude = column.abs()
            odd = odd | ((magnitude < _REPR_SAFE_MIN) & (column != 0)).fill_null(False)
            odd = odd | (magnitude >= _REPR_SAFE_MAX).fill_null(False)
    rows = odd.arg_true()
    if len(rows):
        picked = values[names].gather(rows).to_dicts()
        payloads = payloads.scatter(rows, [compact_json(row) for row in picked])
    return payloads
