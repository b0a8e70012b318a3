"""The exchange channels of GB/T 39443-2020 behind one interface.

A target names its channel in config/targets.yaml; the channel gets endpoints and
credentials from the target's Airflow connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from credit_sync.config import Target
from credit_sync.delivery.payload import Item, service_body
from credit_sync.hooks.platform import PlatformClient, Receipt


class Channel(Protocol):
    def send(self, kind: str, batch_id: str, items: Sequence[Item]) -> list[Receipt]:
        """Deliver one batch; one receipt per item. Raises on transport failure.

        A receipt is `accepted`, `duplicate` or `rejected`, or `queued` when the channel
        is asynchronous and the platform judges later (see `AsyncChannel.poll`).
        """
        ...


class AsyncChannel(Channel, Protocol):
    def poll(self, kind: str, keys: Sequence[str]) -> list[Receipt]:
        """The platform's verdicts on queued items it has judged since; others omitted."""
        ...


class ServiceChannel:
    """HTTP API of a platform (the "service" exchange)."""

    def __init__(self, client: PlatformClient) -> None:
        self.client = client

    def send(self, kind: str, batch_id: str, items: Sequence[Item]) -> list[Receipt]:
        return self.client.post_batch(kind, service_body(batch_id, items), len(items))


def open_channel(target: Target) -> Channel:
    """The channel of a target, built from its Airflow connection and options."""
    if target.channel == "service":
        from credit_sync.hooks.platform import PlatformHook

        return ServiceChannel(PlatformHook(target.conn_id).get_client())
    if target.channel == "database":
        from credit_sync.delivery.exchange_db import ExchangeDatabaseChannel
        from credit_sync.hooks.database import DatabaseHook

        return ExchangeDatabaseChannel(
            DatabaseHook(target.conn_id).get_engine(),
            tables=target.options["tables"],
            create=bool(target.options.get("create_tables", False)),
        )
    from credit_sync.delivery.files import FileChannel, directory_from_connection

    return FileChannel(
        directory_from_connection(target.conn_id),
        fmt=target.options.get("format", "xlsx"),
    )
