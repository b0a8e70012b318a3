"""The exchange channels of GB/T 39443-2020 behind one interface.

A target names its channel in config/targets.yaml; the channel gets endpoints and
credentials from the target's Airflow connection.
"""

from __future__ import annotations

from typing import Protocol

from credit_sync.config import Target
from credit_sync.hooks.platform import PlatformClient, Receipt


class Channel(Protocol):
    def send(self, kind: str, batch_id: str, items: list[dict]) -> list[Receipt]:
        """Deliver one batch; one receipt per item, in order. Raises on transport failure."""
        ...


class ServiceChannel:
    """HTTP API of a platform (the "service" exchange)."""

    def __init__(self, client: PlatformClient) -> None:
        self.client = client

    def send(self, kind: str, batch_id: str, items: list[dict]) -> list[Receipt]:
        return self.client.send_records(kind, batch_id, items)


def open_channel(target: Target) -> Channel:
    if target.channel == "service":
        from credit_sync.hooks.platform import PlatformHook

        return ServiceChannel(PlatformHook(target.conn_id).get_client())
    raise NotImplementedError(
        f"target {target.code}: the {target.channel!r} channel is not implemented yet"
    )
