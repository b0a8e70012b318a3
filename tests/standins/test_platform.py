"""The platform stand-in, exercised over loopback against real server processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from credit_sync.signing import sign_request, signature_headers
from credit_sync.standins.platform import SIGNATURE_MAX_SKEW_S, create_app, openapi_json

APP_KEY = "test-app-key"
APP_SECRET = "test-secret-9f3c1e"  # distinctive, so a leak into the logs is easy to grep
START_TIMEOUT_S = 30.0
REPO_ROOT = Path(__file__).resolve().parents[2]
OPENAPI_PATH = REPO_ROOT / "docs" / "platform-contract.openapi.json"
BROKEN_CONNECTION = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)


# -- running stand-ins ----------------------------------------------------------------


@dataclass
class Standin:
    """One stand-in server process and a small client for it."""

    profile: str
    auth: str
    db_path: Path
    log_path: Path
    ready_file: Path
    proc: subprocess.Popen[bytes]
    base_url: str = ""
    _token: str | None = field(default=None, repr=False)

    def url(self, path: str) -> str:
        return self.base_url + path

    def wait_ready(self) -> Standin:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.ready_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"stand-in exited early:\n{self.log_path.read_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"stand-in not ready:\n{self.log_path.read_text()}")
            time.sleep(0.02)
        self.base_url = f"http://127.0.0.1:{int(self.ready_file.read_text())}"
        while True:
            try:
                if requests.get(self.url("/healthz"), timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def token(self, *, fresh: bool = False) -> str:
        if self._token is None or fresh:
            response = requests.post(
                self.url("/api/v1/auth/token"),
                json={"app_key": APP_KEY, "app_secret": APP_SECRET},
                timeout=10,
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def auth_headers(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        if self.auth == "token":
            return {"Authorization": f"Bearer {self.token()}"}
        return signature_headers(APP_KEY, APP_SECRET, method, path, body)

    def post_batch(
        self,
        kind: str,
        records: list[dict[str, Any]],
        *,
        batch_id: str | None = None,
        timeout: float | tuple[float, float] = 10,
    ) -> requests.Response:
        path = f"/api/v1/records/{kind}"
        body = batch_body(*records, batch_id=batch_id)
        headers = {"Content-Type": "application/json", **self.auth_headers("POST", path, body)}
        # A fresh connection per call: fault tests break connections on purpose.
        with requests.Session() as session:
            return session.post(self.url(path), data=body, headers=headers, timeout=timeout)

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(
            self.url(path), params=params, headers=self.auth_headers("GET", path), timeout=10
        )

    def versions(self, **params: Any) -> list[dict[str, Any]]:
        response = self.get("/api/v1/records", **params)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def current(self, **params: Any) -> dict[str, dict[str, Any]]:
        response = self.get("/api/v1/current", **params)
        assert response.status_code == 200, response.text
        return {item["record_id"]: item for item in response.json()["items"]}

    def set_faults(self, **config: Any) -> dict[str, Any]:
        response = requests.put(self.url("/api/v1/_faults"), json=config, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def stats(self) -> dict[str, Any]:
        return requests.get(self.url("/api/v1/_stats"), timeout=10).json()


def launch(
    directory: Path,
    name: str,
    *,
    profile: str,
    auth: str = "token",
    token_ttl: int | None = None,
    db_path: Path | None = None,
) -> Standin:
    """Start a stand-in process; call ``wait_ready`` before using it."""
    db_path = db_path or directory / f"{name}.sqlite"
    log_path = directory / f"{name}.log"
    ready_file = directory / f"{name}.port"
    command = [
        sys.executable,
        "-m",
        "credit_sync.standins",
        "--profile",
        profile,
        "--auth",
        auth,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--db",
        str(db_path),
        "--ready-file",
        str(ready_file),
    ]
    if token_ttl is not None:
        command += ["--token-ttl", str(token_ttl)]
    env = {**os.environ, "STANDIN_APP_KEY": APP_KEY, "STANDIN_APP_SECRET": APP_SECRET}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Standin(profile, auth, db_path, log_path, ready_file, proc)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Standin]]:
    """The module's long-lived servers, started in parallel because start-up dominates."""
    directory = tmp_path_factory.mktemp("standins")
    started = {
        "provincial": launch(directory, "provincial", profile="provincial"),
        # One server covers both the public profile and signature auth: fewer start-ups.
        "public": launch(directory, "public", profile="public", auth="signature"),
        "short_ttl": launch(directory, "short_ttl", profile="provincial", token_ttl=1),
    }
    try:
        for server in started.values():
            server.wait_ready()
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture
def provincial(servers: dict[str, Standin]) -> Iterator[Standin]:
    server = servers["provincial"]
    server.set_faults()
    yield server
    server.set_faults()  # leave no fault behind for the next test


@pytest.fixture
def public(servers: dict[str, Standin]) -> Standin:
    return servers["public"]


@pytest.fixture
def signed(servers: dict[str, Standin]) -> Standin:
    return servers["public"]


@pytest.fixture
def short_ttl(servers: dict[str, Standin]) -> Standin:
    return servers["short_ttl"]


# -- records --------------------------------------------------------------------------


def new_key() -> str:
    return uuid.uuid4().hex


def batch_body(*records: dict[str, Any], batch_id: str | None = None) -> bytes:
    payload = {"batch_id": batch_id or new_key(), "records": list(records)}
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def record(record_id: str | None, key: str | None, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "idempotency_key": key or new_key(),
        "record_id": record_id or new_key(),
        "operation": "upsert",
        "data": data,
    }


def penalty(record_id: str | None = None, *, key: str | None = None, **fields: Any) -> dict:
    data = {
        "CF_XDR_MC": "白银市某某建材有限公司",
        "CF_WSH": "白市监罚〔2024〕12号",
        "CF_JDRQ": "2024-03-05",
        "CF_CFJG": "白银市市场监督管理局",
        "CF_CFJGDM": "11620400MB1847563K",
        "CF_CFLB": "罚款",
        "CF_FKJE": 20000,
        "CF_XDR_ZJHM": "620422********123X",
    }
    return record(record_id, key, {**data, **fields})


def permit(record_id: str | None = None, *, key: str | None = None, **fields: Any) -> dict:
    data = {
        "XK_XDR_MC": "白银市某某餐饮店",
        "XK_WSH": "白市监许〔2024〕88号",
        "XK_JDRQ": "2024-04-01",
        "XK_XKJG": "白银市市场监督管理局",
        "XK_XKJGDM": "11620400MB1847563K",
        "XK_YXQZ": "2024-04-01",
        "XK_YXQZI": "2029-03-31",
    }
    return record(record_id, key, {**data, **fields})


def withdraw(record_id: str, *, key: str | None = None) -> dict:
    return {
        "idempotency_key": key or new_key(),
        "record_id": record_id,
        "operation": "withdraw",
        "data": {},
    }


def without(rec: dict[str, Any], *fields: str) -> dict[str, Any]:
    rec["data"] = {k: v for k, v in rec["data"].items() if k not in fields}
    return rec


def results(response: requests.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return response.json()["results"]


def statuses(response: requests.Response) -> list[str]:
    return [result["status"] for result in results(response)]


# -- health and token auth ------------------------------------------------------------


def test_healthz_needs_no_auth(servers: dict[str, Standin]) -> None:
    for profile in ("provincial", "public"):
        response = requests.get(servers[profile].url("/healthz"), timeout=5)
        assert response.json() == {"status": "ok", "profile": profile}


def test_token_auth(provincial: Standin) -> None:
    response = requests.post(
        provincial.url("/api/v1/auth/token"),
        json={"app_key": APP_KEY, "app_secret": APP_SECRET},
        timeout=5,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200
    good = {"Authorization": f"Bearer {body['access_token']}"}
    assert requests.get(provincial.url("/api/v1/records"), headers=good, timeout=5).ok

    wrong = requests.post(
        provincial.url("/api/v1/auth/token"),
        json={"app_key": APP_KEY, "app_secret": "not-the-secret"},
        timeout=5,
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "E_AUTH"
    rec = penalty()
    for headers in ({}, {"Authorization": "Bearer made-up"}, {"Authorization": "Basic abc"}):
        response = requests.post(
            provincial.url("/api/v1/records/penalty"),
            data=batch_body(rec),
            headers={"Content-Type": "application/json", **headers},
            timeout=5,
        )
        assert response.status_code == 401, headers
        assert response.json()["code"] == "E_AUTH"
    assert provincial.versions(record_id=rec["record_id"]) == []


def test_expired_token(short_ttl: Standin) -> None:
    headers = {"Authorization": f"Bearer {short_ttl.token(fresh=True)}"}
    assert requests.get(short_ttl.url("/api/v1/records"), headers=headers, timeout=5).ok
    time.sleep(1.2)
    response = requests.get(short_ttl.url("/api/v1/current"), headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["code"] == "E_TOKEN_EXPIRED"
    short_ttl.token(fresh=True)
    assert statuses(short_ttl.post_batch("penalty", [penalty()])) == ["accepted"]


# -- signature auth -------------------------------------------------------------------

RECORDS_PATH = "/api/v1/records/penalty"


def signed_post(server: Standin, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(
        server.url(RECORDS_PATH),
        data=body,
        headers={"Content-Type": "application/json", **headers},
        timeout=5,
    )


def test_sign_request_matches_the_documented_test_vector() -> None:
    # The same vector is in docs/platform-contract.md; client copies can assert it too.
    body = b'{"batch_id":"b-1","records":[]}'
    signature = sign_request(
        "demo-secret", "post", "/api/v1/records/penalty", "1717200000", "3f2a9c0d5e7b4a11", body
    )
    assert signature == "06ef386b7ba2827b6de7274122f9d5ac41575ce2058963171c04362d5799ae37"


def test_signature_auth_accepts_a_correct_signature(signed: Standin) -> None:
    body = batch_body(penalty())
    headers = signature_headers(APP_KEY, APP_SECRET, "POST", RECORDS_PATH, body)
    assert statuses(signed_post(signed, body, headers)) == ["accepted"]
    # The query string is not part of the signed path; the method is upper-cased.
    headers = signature_headers(APP_KEY, APP_SECRET, "get", "/api/v1/records")
    response = requests.get(
        signed.url("/api/v1/records?kind=penalty&limit=1"), headers=headers, timeout=5
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "case", ["wrong_secret", "tampered_body", "unknown_key", "stale", "future", "missing_header"]
)
def test_signature_auth_rejects(signed: Standin, case: str) -> None:
    rec = penalty()
    body = batch_body(rec)
    now = int(time.time())
    key, secret, signed_body, timestamp = APP_KEY, APP_SECRET, body, now
    if case == "wrong_secret":
        secret = "guessed"
    elif case == "tampered_body":
        signed_body = batch_body(penalty())
    elif case == "unknown_key":
        key = "someone-else"
    # A minute past the allowed skew: `now` is truncated to the second and the request
    # takes time, so one second past it was accepted when the server's clock had moved on.
    elif case == "stale":
        timestamp = now - SIGNATURE_MAX_SKEW_S - 60
    elif case == "future":
        timestamp = now + SIGNATURE_MAX_SKEW_S + 60
    headers = signature_headers(key, secret, "POST", RECORDS_PATH, signed_body, timestamp=timestamp)
    if case == "missing_header":
        del headers["X-Nonce"]
    response = signed_post(signed, body, headers)
    assert response.status_code == 401
    assert response.json()["code"] == "E_SIGNATURE"
    assert signed.versions(record_id=rec["record_id"]) == []


def test_signature_auth_rejects_a_replayed_nonce(signed: Standin) -> None:
    body = batch_body(penalty())
    headers = signature_headers(APP_KEY, APP_SECRET, "POST", RECORDS_PATH, body)
    assert signed_post(signed, body, headers).status_code == 200
    replay = signed_post(signed, body, headers)
    assert replay.status_code == 401
    assert replay.json()["code"] == "E_SIGNATURE"
    # A fresh timestamp does not make a used nonce usable again.
    headers = signature_headers(
        APP_KEY, APP_SECRET, "POST", RECORDS_PATH, body, nonce=headers["X-Nonce"]
    )
    assert signed_post(signed, body, headers).status_code == 401


def test_signature_mode_has_no_token_endpoint(signed: Standin) -> None:
    response = requests.post(
        signed.url("/api/v1/auth/token"),
        json={"app_key": APP_KEY, "app_secret": APP_SECRET},
        timeout=5,
    )
    assert response.status_code == 404


# -- per-record checks ----------------------------------------------------------------


def test_required_fields(provincial: Standin) -> None:
    response = provincial.post_batch(
        "penalty",
        [
            without(penalty(), "CF_WSH"),
            penalty(CF_CFLB="   "),
            penalty(CF_CFJG=None),
            penalty(),
        ],
    )
    got = results(response)
    assert [r["status"] for r in got] == ["rejected", "rejected", "rejected", "accepted"]
    assert {r["code"] for r in got[:3]} == {"E_REQUIRED"}
    assert got[0]["message"] == "缺少必填字段：CF_WSH"
    assert "CF_CFLB" in got[1]["message"] and "CF_CFJG" in got[2]["message"]

    got = results(provincial.post_batch("permit", [without(permit(), "XK_XKJGDM"), permit()]))
    assert [(r["status"], r["code"]) for r in got] == [
        ("rejected", "E_REQUIRED"),
        ("accepted", None),
    ]
    assert got[0]["message"] == "缺少必填字段：XK_XKJGDM"


def test_date_format(provincial: Standin) -> None:
    bad = [
        penalty(CF_JDRQ="2024/03/05"),
        penalty(CF_JDRQ="2024-02-30"),
        penalty(CF_GSJZQ="20250305"),
        penalty(CF_YXQ="2025-3-5"),
        permit(XK_YXQZI="2029-13-01"),
        penalty(CF_JDRQ=20240305),
    ]
    good = [penalty(CF_JDRQ="2024-02-29", CF_GSJZQ=None, CF_YXQ="2027-03-05"), permit()]
    got = results(provincial.post_batch("penalty", bad[:4] + bad[5:] + good[:1]))
    assert [r["code"] for r in got] == ["E_FORMAT"] * 5 + [None]
    assert "CF_JDRQ" in got[0]["message"]
    got = results(provincial.post_batch("permit", [bad[4], good[1]]))
    assert [r["code"] for r in got] == ["E_FORMAT", None]


def test_non_scalar_values_reject_the_record_not_the_batch(provincial: Standin) -> None:
    got = results(provincial.post_batch("penalty", [penalty(CF_NR={"a": 1}), penalty()]))
    assert [r["code"] for r in got] == ["E_FORMAT", None]


@pytest.mark.parametrize(
    "field_code, value",
    [
        ("CF_XDR_ZJHM", "620422199001011234"),
        ("CF_XDR_ZJHM", "62042219900101123X"),
        ("CF_FR_ZJHM", "62042219900101123x"),
        ("CF_FR_ZJHM", "620422900101123"),
        ("CF_XDR_ZJHM", " 620422199001011234 "),
    ],
)
def test_unmasked_id_numbers_are_refused_by_public_only(
    provincial: Standin, public: Standin, field_code: str, value: str
) -> None:
    got = results(public.post_batch("penalty", [penalty(**{field_code: value})]))
    assert (got[0]["status"], got[0]["code"]) == ("rejected", "E_PRIVACY")
    assert field_code in got[0]["message"] and value.strip() not in got[0]["message"]
    assert statuses(provincial.post_batch("penalty", [penalty(**{field_code: value})])) == [
        "accepted"
    ]


def test_masked_id_numbers_are_published(public: Standin) -> None:
    masked = [
        penalty(CF_XDR_ZJHM="620422********123X", CF_FR_ZJHM="620422********1234"),
        permit(XK_FR_ZJHM="620422*********23", XK_XDR_ZJHM="91620402MA71234567"),
    ]
    assert statuses(public.post_batch("penalty", masked[:1])) == ["accepted"]
    assert statuses(public.post_batch("permit", masked[1:])) == ["accepted"]


# -- duplicates, persistence and withdrawals ------------------------------------------


def test_duplicates_within_and_across_batches(provincial: Standin) -> None:
    first, second = penalty(), penalty()
    again = dict(first, data={**first["data"], "CF_FKJE": 1})  # same key, different content
    assert statuses(provincial.post_batch("penalty", [first, second, again])) == [
        "accepted",
        "accepted",
        "duplicate",
    ]
    got = results(provincial.post_batch("penalty", [second, first]))
    assert [r["status"] for r in got] == ["duplicate", "duplicate"]
    assert [r["idempotency_key"] for r in got] == [
        second["idempotency_key"],
        first["idempotency_key"],
    ]
    stored = provincial.versions(record_id=first["record_id"])
    assert len(stored) == 1 and stored[0]["data"]["CF_FKJE"] == 20000


def test_a_rejected_key_can_be_accepted_later(provincial: Standin) -> None:
    rec = without(penalty(), "CF_WSH")
    assert statuses(provincial.post_batch("penalty", [rec])) == ["rejected"]
    fixed = penalty(rec["record_id"], key=rec["idempotency_key"])
    assert statuses(provincial.post_batch("penalty", [fixed, fixed])) == ["accepted", "duplicate"]


def test_duplicates_survive_a_restart(tmp_path: Path) -> None:
    db_path = tmp_path / "persist.sqlite"
    recs = [penalty() for _ in range(3)]
    server = launch(tmp_path, "first", profile="provincial", db_path=db_path)
    try:
        server.wait_ready()
        assert statuses(server.post_batch("penalty", recs, batch_id="b-1")) == ["accepted"] * 3
    finally:
        # SIGKILL, not a graceful stop: an answered batch must already be committed.
        server.proc.kill()
        server.proc.wait(timeout=10)
    server = launch(tmp_path, "second", profile="provincial", db_path=db_path)
    try:
        server.wait_ready()
        new = penalty()
        got = statuses(server.post_batch("penalty", [*recs, new], batch_id="b-2"))
        assert got == ["duplicate"] * 3 + ["accepted"]
        stored = server.versions(kind="penalty")
        assert [v["batch_id"] for v in stored] == ["b-1"] * 3 + ["b-2"]
        assert [v["idempotency_key"] for v in stored[:3]] == [r["idempotency_key"] for r in recs]
    finally:
        server.stop()


def test_withdraw_removes_the_record_from_the_public_listing(public: Standin) -> None:
    rid, other = new_key(), new_key()
    assert statuses(public.post_batch("penalty", [penalty(rid), penalty(other)])) == [
        "accepted",
        "accepted",
    ]
    assert public.current(kind="penalty")[rid]["version_count"] == 1
    assert statuses(public.post_batch("penalty", [withdraw(rid)])) == ["accepted"]
    current = public.current(kind="penalty")
    assert rid not in current and other in current
    versions = public.versions(record_id=rid)
    assert [v["operation"] for v in versions] == ["upsert", "withdraw"]
    assert versions[1]["kind"] == "penalty" and versions[1]["received_at"]
    # Publishing it again brings it back, with the whole history counted.
    assert statuses(public.post_batch("penalty", [penalty(rid, CF_FKJE=500)])) == ["accepted"]
    item = public.current(kind="penalty")[rid]
    assert item["version_count"] == 3 and item["data"]["CF_FKJE"] == 500


def test_withdraw_of_an_unknown_record(public: Standin) -> None:
    permit_id = new_key()
    assert statuses(public.post_batch("permit", [permit(permit_id)])) == ["accepted"]
    got = results(public.post_batch("penalty", [withdraw(new_key()), withdraw(permit_id)]))
    assert [(r["status"], r["code"]) for r in got] == [("rejected", "E_UNKNOWN_RECORD")] * 2
    # Upsert and withdrawal in one batch: the withdrawal sees the upsert.
    rid = new_key()
    got = statuses(public.post_batch("penalty", [penalty(rid), withdraw(rid)]))
    assert got == ["accepted", "accepted"]
    assert rid not in public.current()


def test_listing_filters_and_pages(provincial: Standin) -> None:
    rid = new_key()
    recs = [penalty(rid, CF_FKJE=i) for i in range(5)]
    assert statuses(provincial.post_batch("penalty", recs)) == ["accepted"] * 5
    page = provincial.get("/api/v1/records", record_id=rid, offset=1, limit=2).json()
    assert page["total"] == 5
    assert [item["data"]["CF_FKJE"] for item in page["items"]] == [1, 2]
    assert provincial.current(kind="permit").get(rid) is None
    assert provincial.current(kind="penalty")[rid]["data"]["CF_FKJE"] == 4
    assert provincial.get("/api/v1/records", kind="other").status_code == 422


def test_batch_level_errors(provincial: Standin) -> None:
    rec = penalty()
    assert provincial.post_batch("licence", [rec]).status_code == 404
    too_many = provincial.post_batch("penalty", [rec] * 5001)
    assert too_many.status_code == 413 and too_many.json()["code"] == "E_BATCH_TOO_LARGE"
    headers = {"Content-Type": "application/json", **provincial.auth_headers("POST", "")}
    for body in (b"{not json", b"[]", b'{"batch_id": "b"}', batch_body({"record_id": "x"})):
        response = requests.post(
            provincial.url(RECORDS_PATH), data=body, headers=headers, timeout=5
        )
        assert response.status_code == 422, body
    assert provincial.versions(record_id=rec["record_id"]) == []


@pytest.mark.parametrize(
    "value",
    [
        "NaN",  # not JSON at all
        "1e400",  # a number no platform could store
        '"\\ud800"',  # half a UTF-16 pair: not a character
    ],
)
def test_strict_json_refuses_the_batch_and_stores_nothing(provincial: Standin, value: str) -> None:
    rec = penalty()
    body = batch_body(rec).replace(b'"CF_FKJE": 20000', f'"CF_FKJE": {value}'.encode())
    assert value.encode() in body
    headers = {"Content-Type": "application/json", **provincial.auth_headers("POST", "")}
    response = requests.post(provincial.url(RECORDS_PATH), data=body, headers=headers, timeout=5)
    assert response.status_code == 422 and response.json()["code"] == "E_INVALID_REQUEST"
    assert provincial.versions(record_id=rec["record_id"]) == []


def test_stored_data_reads_back_as_sent(provincial: Standin) -> None:
    rec = penalty(CF_FKJE=0.2, CF_WFXW="销售过期食品\n（两次）", BZ=None, CF_NR_FK=10**20)
    assert provincial.post_batch("penalty", [rec]).json()["results"][0]["status"] == "accepted"
    [stored] = provincial.versions(record_id=rec["record_id"])
    assert stored["data"] == rec["data"]


# -- fault injection ------------------------------------------------------------------


def test_fault_error_stores_nothing(provincial: Standin) -> None:
    before = provincial.stats()["records_requests"]["error"]
    provincial.set_faults(script=["error"])
    rec = penalty()
    response = provincial.post_batch("penalty", [rec])
    assert response.status_code == 503 and response.json()["code"] == "E_UNAVAILABLE"
    assert provincial.versions(record_id=rec["record_id"]) == []
    assert provincial.stats()["records_requests"]["error"] == before + 1
    assert statuses(provincial.post_batch("penalty", [rec])) == ["accepted"]  # script used up


def test_fault_rate_limit_sends_retry_after(provincial: Standin) -> None:
    provincial.set_faults(script=["rate_limit"], retry_after=7)
    rec = penalty()
    response = provincial.post_batch("penalty", [rec])
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert provincial.versions(record_id=rec["record_id"]) == []


def test_fault_timeout_commits_then_stalls(provincial: Standin) -> None:
    provincial.set_faults(script=["timeout"], timeout_sleep_s=1.5)
    recs = [penalty(), penalty()]
    with pytest.raises(requests.exceptions.ReadTimeout):
        provincial.post_batch("penalty", recs, timeout=(5, 0.4))
    assert len(provincial.versions(record_id=recs[0]["record_id"])) == 1
    # The retry the client would make is answered as a duplicate.
    assert statuses(provincial.post_batch("penalty", recs)) == ["duplicate", "duplicate"]


def test_fault_reset_commits_then_breaks_the_connection(provincial: Standin) -> None:
    provincial.set_faults(script=["reset"])
    recs = [penalty(), penalty()]
    with pytest.raises(BROKEN_CONNECTION):
        provincial.post_batch("penalty", recs)
    for rec in recs:
        assert len(provincial.versions(record_id=rec["record_id"])) == 1
    assert provincial.stats()["records_requests"]["reset"] >= 1
    assert statuses(provincial.post_batch("penalty", recs)) == ["duplicate", "duplicate"]


def test_fault_reject_rejects_the_whole_batch(provincial: Standin) -> None:
    stored = penalty()
    assert statuses(provincial.post_batch("penalty", [stored])) == ["accepted"]
    provincial.set_faults(script=["reject", "ok"])
    recs = [penalty(), penalty(), stored]
    got = results(provincial.post_batch("penalty", recs))
    # Every record, even one the platform already has.
    assert [(r["status"], r["code"]) for r in got] == [("rejected", "E_INJECTED")] * 3
    assert provincial.versions(record_id=recs[0]["record_id"]) == []
    assert statuses(provincial.post_batch("penalty", recs)) == ["accepted"] * 2 + ["duplicate"]


def test_fault_reject_rate_is_per_record_and_seeded(provincial: Standin) -> None:
    def run() -> list[str]:
        provincial.set_faults(reject_rate=0.5, seed=42)
        got = results(provincial.post_batch("penalty", [penalty() for _ in range(40)]))
        assert {r["code"] for r in got if r["status"] == "rejected"} == {"E_INJECTED"}
        return [r["status"] for r in got]

    first = run()
    assert 5 < first.count("rejected") < 35
    assert run() == first  # same seed, same pattern
    provincial.set_faults(reject_rate=1.0)
    assert statuses(provincial.post_batch("penalty", [penalty()])) == ["rejected"]


def test_script_runs_before_rates_and_delay_applies(provincial: Standin) -> None:
    provincial.set_faults(script=["ok"], error_rate=1.0, delay_ms=300)
    started = time.monotonic()
    assert statuses(provincial.post_batch("penalty", [penalty()])) == ["accepted"]
    assert time.monotonic() - started >= 0.3
    assert provincial.post_batch("penalty", [penalty()]).status_code == 503
    assert provincial.set_faults(script=["error", "reset"])["script"] == ["error", "reset"]
    provincial.post_batch("penalty", [penalty()])
    state = requests.get(provincial.url("/api/v1/_faults"), timeout=5).json()
    assert state["script"] == ["reset"]


def test_fault_config_is_validated(provincial: Standin) -> None:
    for config in (
        {"error_rate": 1.5},
        {"script": ["explode"]},
        {"error_rate": 0.6, "reset_rate": 0.6},
        {"typo": 1},
    ):
        response = requests.put(provincial.url("/api/v1/_faults"), json=config, timeout=5)
        assert response.status_code == 422, config


# -- contract document and hygiene ----------------------------------------------------


def test_committed_openapi_document_is_current() -> None:
    assert OPENAPI_PATH.read_text(encoding="utf-8") == openapi_json(), (
        "docs/platform-contract.openapi.json is stale; regenerate it with "
        "`python -m credit_sync.standins --write-openapi docs/platform-contract.openapi.json`"
    )


def test_openapi_document_does_not_depend_on_the_configuration() -> None:
    documents = []
    for profile, auth in (("provincial", "token"), ("public", "signature")):
        app = create_app(
            profile=profile, db_path=":memory:", app_key="k", app_secret="s", auth_mode=auth
        )
        documents.append(app.openapi())
        app.state.store.close()
    assert documents[0] == documents[1]


def test_secret_never_reaches_the_logs(servers: dict[str, Standin]) -> None:
    for server in servers.values():
        assert APP_SECRET not in server.log_path.read_text(errors="replace")
        assert APP_SECRET not in " ".join(server.proc.args)  # type: ignore[arg-type]
