"""The platform client against the real stand-in: both auth modes, token refresh, retries."""

from __future__ import annotations

import time

import pytest
from airflow.sdk import Connection

from credit_sync.hooks.platform import (
    PlatformClient,
    PlatformError,
    RetryPolicy,
    client_from_connection,
)
from tests.factories import penalty_row


def _item(n: int) -> dict:
    return {
        "idempotency_key": f"k{n}-{time.time_ns()}",
        "record_id": f"hooktest/penalty/{n}",
        "operation": "upsert",
        "data": penalty_row(n),
    }


@pytest.mark.parametrize("auth", ["token", "signature"])
def test_both_auth_modes_upload_and_read_back(standin_factory, auth: str) -> None:
    standin = standin_factory("provincial", name=auth, auth=auth)
    client = PlatformClient(standin.base_url, standin.app_key, standin.app_secret, auth=auth)
    receipts = client.send_records("penalty", "b1", [_item(1), _item(2)])
    assert [r.status for r in receipts] == ["accepted", "accepted"]
    assert client.request("GET", "/api/v1/records").json()["total"] == 2


def test_wrong_secret_is_an_error_not_a_retry_loop(standin_factory) -> None:
    standin = standin_factory("provincial", name="wrong", auth="signature")
    client = PlatformClient(standin.base_url, standin.app_key, "not-the-secret", auth="signature")
    with pytest.raises(PlatformError, match="HTTP 401"):
        client.send_records("penalty", "b1", [_item(1)])


def test_expired_token_is_refreshed(standin_factory) -> None:
    standin = standin_factory("provincial", name="ttl", token_ttl=1)
    client = PlatformClient(
        standin.base_url, standin.app_key, standin.app_secret, retry=RetryPolicy(3, 0.01, 0.1)
    )
    client.send_records("penalty", "b1", [_item(1)])
    client._token_expires = time.monotonic() + 60  # pretend our clock says it is still good
    time.sleep(1.2)
    assert [r.status for r in client.send_records("penalty", "b2", [_item(2)])] == ["accepted"]


def test_retry_after_is_honoured(standin_factory) -> None:
    standin = standin_factory("provincial", name="ratelimit")
    standin.set_faults(script=["rate_limit"], retry_after=1)
    slept: list[float] = []
    client = PlatformClient(
        standin.base_url,
        standin.app_key,
        standin.app_secret,
        retry=RetryPolicy(3, 0.01, 5.0),
        sleep=slept.append,
    )
    client.send_records("penalty", "b1", [_item(1)])
    assert slept == [1.0]


def test_client_from_connection_keeps_secrets_out_of_its_repr() -> None:
    conn = Connection(
        conn_id="credit_provincial",
        conn_type="http",
        host="10.1.2.3",
        port=8443,
        schema="https",
        login="app",
        password="s3cr3t-value",
        extra='{"auth": "signature", "timeout": 7, "max_attempts": 2}',
    )
    client = client_from_connection(conn)
    assert client.base_url == "https://10.1.2.3:8443"
    assert (client.auth, client.timeout, client.retry.max_attempts) == ("signature", 7.0, 2)
    assert "s3cr3t" not in repr(client)


def test_signed_get_with_a_query_string(standin_factory) -> None:
    standin = standin_factory("public", name="signedget", auth="signature")
    client = PlatformClient(standin.base_url, standin.app_key, standin.app_secret, auth="signature")
    item = _item(1)
    item["data"]["CF_XDR_ZJHM"] = "620422********1234"  # a public platform takes masked IDs only
    assert client.send_records("penalty", "b1", [item])[0].status == "accepted"
    resp = client.request("GET", "/api/v1/current?kind=penalty")
    assert resp.status_code == 200 and resp.json()["total"] == 1
