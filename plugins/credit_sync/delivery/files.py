"""The file channel (GB/T 39443 "file" exchange): batches written as XLSX or CSV files in
the standard template layout (one column per field, Chinese labels in the first row,
field codes in the second), for upload by whatever carries files to the platform.

A file is written under a temporary name and renamed, and its name is the batch id, so
rewriting a batch after a crash replaces the same file instead of adding a second one.
There is no platform feedback on this channel: a written file is a delivered batch.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from credit_sync.delivery.payload import Item
from credit_sync.hooks.platform import Receipt
from credit_sync.schema import fields

META = [("record_id", "记录标识"), ("operation", "操作（upsert 新增或更新 / withdraw 撤回）")]


class FileChannel:
    def __init__(self, directory: Path, fmt: str = "xlsx") -> None:
        if fmt not in ("xlsx", "csv"):
            raise ValueError(f"file format must be xlsx or csv, not {fmt!r}")
        self.directory = Path(directory)
        self.fmt = fmt

    def send(self, kind: str, batch_id: str, items: Sequence[Item]) -> list[Receipt]:
        codes = [f.code for f in fields(kind)]
        header_labels = [label for _, label in META] + [f.label for f in fields(kind)]
        header_codes = [code for code, _ in META] + codes
        rows = [[i.record_id, i.operation, *map(i.data.get, codes)] for i in items]
        target = self.directory / kind / f"{batch_id}.{self.fmt}"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        if self.fmt == "csv":
            # UTF-8 with BOM: what Excel on a government desktop opens without mojibake.
            with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerows([header_labels, header_codes, *rows])
        else:
            from openpyxl import Workbook

            book = Workbook(write_only=True)
            sheet = book.create_sheet(kind)
            for row in (header_labels, header_codes, *rows):
                sheet.append(row)
            book.save(tmp)
        os.replace(tmp, target)
        return [Receipt(i.idempotency_key, "accepted", "FILE", target.name) for i in items]


def directory_from_connection(conn_id: str) -> Path:
    """Airflow `fs` connection: the directory is `extra.path` (as Airflow's FSHook has it)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    path = (conn.extra_dejson or {}).get("path") or conn.host
    if not path:
        raise ValueError(f"connection {conn_id!r}: set extra.path to the outgoing directory")
    return Path(path)
