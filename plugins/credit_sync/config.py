"""What an engineer edits: departments, targets and settings under `config/`.

Loaded at DAG parse time, so only YAML and the standard library here. Every problem
raises `ConfigError` naming the file, the entry and what is wrong.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from credit_sync.assets import DEPARTMENT_DAG_PREFIX
from credit_sync.schema import FIELDS, META_COLUMNS, SOURCE_KEY, SOURCE_UPDATED_AT, Kind, field_map
from credit_sync.select_sql import SelectShape, read_select

PROJECT_HOME = Path(os.environ.get("CREDIT_SYNC_HOME", Path(__file__).resolve().parents[2]))


def runtime_dir() -> Path:
    """Where the embedded default keeps its state (Airflow home, staging file, data docs)."""
    return Path(os.environ.get("CREDIT_SYNC_AIRFLOW_HOME", PROJECT_HOME / ".airflow"))


def config_dir() -> Path:
    return Path(os.environ.get("CREDIT_SYNC_CONFIG_DIR", PROJECT_HOME / "config"))


def sql_dir() -> Path:
    return Path(os.environ.get("CREDIT_SYNC_SQL_DIR", PROJECT_HOME / "sql"))


def expectations_dir() -> Path:
    return Path(os.environ.get("CREDIT_SYNC_EXPECTATIONS_DIR", PROJECT_HOME / "expectations"))


class ConfigError(ValueError):
    pass


# libyaml's safe loader when PyYAML has it: ten times faster on 200 departments, which the
# dag-processor reads at every parse.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class KindSource:
    kind: Kind
    sql_path: Path
    mappings: dict[str, dict[str, str]] = field(default_factory=dict)
    watermark_column: str = "updated_at"
    tiebreak_column: str = "source_key"

    def read_sql(self) -> str:
        return self.sql_path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    credit_code: str
    conn_id: str
    kinds: dict[Kind, KindSource]
    schedule: str | None = "@daily"
    enabled: bool = True
    public_cleared_default: bool = False
    # Rows per fetch and per staging transaction. About 1.5 kB of worker memory a row, in
    # each of the five places a pull holds a chunk (docs/operations.md); 20,000 gave no
    # more throughput than 10,000 and 150 MB more peak memory (docs/benchmarks.md).
    chunk_size: int = 10_000
    # How rows are read: "auto" (PostgreSQL's COPY, ConnectorX for MySQL/MariaDB, else
    # the driver) or "driver" (always the SQLAlchemy driver). See docs/sources.md.
    reader: str = "auto"
    # Rows per page of the MySQL/MariaDB columnar reader where the server sorts the window
    # for every page. ConnectorX decodes a query as fast as it can into an unbounded
    # queue, so a window is read in keyset pages to keep memory bounded by the page; each
    # page runs the SELECT again, and the next page is read ahead while one is staged:
    # without an index on (update time, key), larger pages cost fewer scans and sorts and
    # more memory (about 1.5 kB a row of page). With one, pages are two chunks
    # (`extraction.page_rows`). See docs/sources.md.
    page_rows: int = 100_000
    # Weekdays (0 = Monday) on which the run lists the source's keys to find hard deletes.
    reconcile_days: frozenset[int] = frozenset()

    @property
    def dag_id(self) -> str:
        return DEPARTMENT_DAG_PREFIX + self.code

    def reconcile_due(self, day: date) -> bool:
        """Whether the run for `day` (the logical date, county local) reconciles keys."""
        return day.weekday() in self.reconcile_days


@dataclass(frozen=True)
class Target:
    code: str
    name: str
    channel: str  # service | database | file
    conn_id: str
    public: bool
    kinds: tuple[Kind, ...] = (Kind.PERMIT, Kind.PENALTY)
    batch_size: int = 500
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    timezone: str = "Asia/Shanghai"
    late_after_working_days: int = 7
    # Months a penalty stays public when the source leaves CF_GSJZQ empty, by grade.
    publicity_months: dict[str, int] = field(
        default_factory=lambda: {"轻微": 3, "一般": 12, "严重": 36}
    )
    # Which grade each penalty category falls under; the longest period wins.
    penalty_grades: dict[str, str] = field(default_factory=dict)
    default_grade: str = "一般"
    uscc_allow_list: tuple[str, ...] = ()
    # 罚款/没收金额 (万元) above this are reported as possibly entered in 元 (a warning).
    amount_suspect_above_wan: float = 1000.0
    # Processes that validate a chunk of >= 200,000 records, each a slice; 1 = the task alone.
    validation_workers: int = 1


_DEPT_KEYS = {
    "code",
    "name",
    "credit_code",
    "conn_id",
    "kinds",
    "schedule",
    "enabled",
    "public_cleared_default",
    "chunk_size",
    "reader",
    "page_rows",
    "reconcile",
}
_KIND_KEYS = {"sql", "mappings", "watermark", "tiebreak"}
_TARGET_KEYS = {
    "code",
    "name",
    "channel",
    "conn_id",
    "public",
    "kinds",
    "batch_size",
    "enabled",
    "options",
}
_CHANNELS = {"service", "database", "file"}


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _check_keys(path: Path, where: str, entry: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigError(f"{path}: {where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def check_select(sql: str) -> str | None:
    """Why `sql` is not a single SELECT statement, or None when it is."""
    shape = read_select(sql)
    return shape if isinstance(shape, str) else None


# Every canonical code of any kind: to tell "a permit field in penalty.sql" from a typo.
_ALL_CODES = {f.code: k for k, fs in FIELDS.items() for f in fs}


def check_columns(shape: SelectShape, kind: Kind) -> str | None:
    """Why the SELECT's output names do not fit `kind`, or None.

    Every `AS <alias>` of the top-level select list must be a canonical field of the kind
    (any case: PostgreSQL folds unquoted aliases to lower case) or a meta column. See
    `select_sql` for what this static reading cannot see.
    """
    known = field_map(kind)
    for alias in shape.aliases:
        if alias.lower() in META_COLUMNS or alias.upper() in known:
            continue
        other = _ALL_CODES.get(alias.upper())
        if other is not None:
            return f"alias {alias!r} is a {other.value} field, not a {kind.value} field"
        return (
            f"alias {alias!r} is not a canonical {kind.value} field "
            f"({kind.prefix}_*, BZ; see docs/configuration.md) nor one of {list(META_COLUMNS)}"
        )
    if not shape.star:
        missing = [c for c in (SOURCE_KEY, SOURCE_UPDATED_AT) if c not in shape.output_names]
        if missing:
            return f"must return the column(s) {missing}"
    return None


def _reconcile_days(path: Path, where: str, raw: Any) -> frozenset[int]:
    """`reconcile`: null/false (never), daily, weekly (Sundays, like Airflow's @weekly),
    or a weekday name or list of them."""
    if raw in (None, False):
        return frozenset()
    aliases = {"daily": range(7), "weekly": (6,)} | {n: (i,) for i, n in enumerate(WEEKDAYS)}
    names = [raw] if isinstance(raw, str) else raw
    days: set[int] = set()
    for name in names if isinstance(names, list) else [None]:
        found = aliases.get(name.strip().lower()) if isinstance(name, str) else None
        if found is None:
            raise ConfigError(
                f"{path}: {where}: reconcile must be daily, weekly, a weekday "
                f"({', '.join(WEEKDAYS)}) or a list of weekdays; got {raw!r}"
            )
        days.update(found)
    return frozenset(days)


READERS = ("auto", "driver")


def _count(path: Path, where: str, key: str, value: Any) -> int:
    """A positive whole number of rows."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{path}: {where}: {key} must be a whole number of rows above 0")
    return value


def _reader(path: Path, where: str, value: Any) -> str:
    if value not in READERS:
        raise ConfigError(f"{path}: {where}: reader must be one of {', '.join(READERS)}")
    return str(value)


def _load_kind(path: Path, dept: str, kind_name: str, raw: Any) -> KindSource:
    where = f"department {dept!r}, kind {kind_name!r}"
    try:
        kind = Kind(kind_name)
    except ValueError:
        raise ConfigError(f"{path}: department {dept!r}: unknown kind {kind_name!r}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: {where}: expected a mapping")
    _check_keys(path, where, raw, _KIND_KEYS)
    if "sql" not in raw:
        raise ConfigError(f"{path}: {where}: missing key 'sql'")
    sql_path = sql_dir() / raw["sql"]
    if not sql_path.is_file():
        raise ConfigError(f"{path}: {where}: SQL file not found: {sql_path}")
    shape = read_select(sql_path.read_text(encoding="utf-8"))
    problem = shape if isinstance(shape, str) else check_columns(shape, kind)
    if problem:
        raise ConfigError(f"{path}: {where}: {sql_path.name} {problem}")
    known = field_map(kind)
    mappings = raw.get("mappings") or {}
    for canonical, table in mappings.items():
        if canonical not in known:
            raise ConfigError(f"{path}: {where}: mapping for unknown canonical field {canonical!r}")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {where}: mapping {canonical!r} must be a mapping")
    return KindSource(
        kind=kind,
        sql_path=sql_path,
        mappings={c: {str(k): str(v) for k, v in t.items()} for c, t in mappings.items()},
        watermark_column=raw.get("watermark", "updated_at"),
        tiebreak_column=raw.get("tiebreak", "source_key"),
    )


def load_departments(path: Path | None = None) -> list[Department]:
    path = path or config_dir() / "departments.yaml"
    entries = _read_yaml(path).get("departments") or []
    departments: list[Department] = []
    seen: set[str] = set()
    for i, raw in enumerate(entries):
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: departments[{i}]: expected a mapping")
        code = raw.get("code")
        where = f"department {code!r}" if code else f"departments[{i}]"
        _check_keys(path, where, raw, _DEPT_KEYS)
        for key in ("code", "name", "credit_code", "conn_id", "kinds"):
            if not raw.get(key):
                raise ConfigError(f"{path}: {where}: missing key {key!r}")
        if not _CODE_RE.match(str(code)):
            raise ConfigError(f"{path}: {where}: code must match {_CODE_RE.pattern}")
        if code in seen:
            raise ConfigError(f"{path}: {where}: duplicate department code")
        seen.add(code)
        sources = [_load_kind(path, code, k, v) for k, v in raw["kinds"].items()]
        kinds = {source.kind: source for source in sources}
        departments.append(
            Department(
                code=code,
                name=str(raw["name"]),
                credit_code=str(raw["credit_code"]),
                conn_id=str(raw["conn_id"]),
                kinds=kinds,
                schedule=raw.get("schedule", "@daily"),
                enabled=bool(raw.get("enabled", True)),
                public_cleared_default=bool(raw.get("public_cleared_default", False)),
                chunk_size=_count(
                    path, where, "chunk_size", raw.get("chunk_size", Department.chunk_size)
                ),
                reader=_reader(path, where, raw.get("reader", "auto")),
                page_rows=_count(
                    path, where, "page_rows", raw.get("page_rows", Department.page_rows)
                ),
                reconcile_days=_reconcile_days(path, where, raw.get("reconcile")),
            )
        )
    return departments


def load_targets(path: Path | None = None) -> list[Target]:
    path = path or config_dir() / "targets.yaml"
    targets: list[Target] = []
    for i, raw in enumerate(_read_yaml(path).get("targets") or []):
        code = raw.get("code") if isinstance(raw, dict) else None
        where = f"target {code!r}" if code else f"targets[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: {where}: expected a mapping")
        _check_keys(path, where, raw, _TARGET_KEYS)
        for key in ("code", "name", "channel", "conn_id"):
            if not raw.get(key):
                raise ConfigError(f"{path}: {where}: missing key {key!r}")
        if raw["channel"] not in _CHANNELS:
            raise ConfigError(f"{path}: {where}: channel must be one of {sorted(_CHANNELS)}")
        if not _CODE_RE.match(str(code)):
            raise ConfigError(f"{path}: {where}: code must match {_CODE_RE.pattern}")
        targets.append(
            Target(
                code=code,
                name=str(raw["name"]),
                channel=raw["channel"],
                conn_id=str(raw["conn_id"]),
                public=bool(raw.get("public", False)),
                kinds=tuple(Kind(k) for k in raw.get("kinds", ["permit", "penalty"])),
                batch_size=int(raw.get("batch_size", 500)),
                enabled=bool(raw.get("enabled", True)),
                options=dict(raw.get("options") or {}),
            )
        )
    return targets


def load_settings(path: Path | None = None) -> Settings:
    path = path or config_dir() / "settings.yaml"
    if not path.exists():
        return Settings()
    raw = _read_yaml(path)
    _check_keys(path, "settings", raw, set(Settings.__dataclass_fields__))
    if "uscc_allow_list" in raw:
        raw["uscc_allow_list"] = tuple(raw["uscc_allow_list"] or ())
    return Settings(**raw)


@cache
def departments() -> tuple[Department, ...]:
    return tuple(load_departments())


@cache
def targets() -> tuple[Target, ...]:
    return tuple(load_targets())


@cache
def settings() -> Settings:
    return load_settings()


def department(code: str) -> Department:
    for dept in departments():
        if dept.code == code:
            return dept
    raise ConfigError(f"unknown department {code!r}")


def target(code: str) -> Target:
    for tgt in targets():
        if tgt.code == code:
            return tgt
    raise ConfigError(f"unknown target {code!r}")


__all__ = ["META_COLUMNS", "ConfigError", "Department", "KindSource", "Settings", "Target"]
