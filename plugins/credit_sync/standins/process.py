"""Start and stop a stand-in server as a child process (used by `make demo` and tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests


@dataclass
class StandinProcess:
    profile: str
    db: Path
    app_key: str
    app_secret: str
    auth: str = "token"
    token_ttl: int | None = None
    log_path: Path | None = None
    port: int = 0
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> StandinProcess:
        ready = self.db.with_name(f".{self.db.stem}.port")
        ready.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "credit_sync.standins",
            "--profile",
            self.profile,
            "--db",
            str(self.db),
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--auth",
            self.auth,
        ]
        if self.token_ttl:
            cmd += ["--token-ttl", str(self.token_ttl)]
        # Credentials travel in the environment, never on the command line.
        env = {**os.environ, "STANDIN_APP_KEY": self.app_key, "STANDIN_APP_SECRET": self.app_secret}
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stand-in {self.profile} exited with {self.proc.returncode}")
            if ready.exists() and ready.read_text().strip():
                self.port = int(ready.read_text())
                try:
                    if requests.get(self.base_url + "/healthz", timeout=2).ok:
                        return self
                except requests.ConnectionError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"stand-in {self.profile} did not start within {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def set_faults(self, **faults: object) -> None:
        requests.put(self.base_url + "/api/v1/_faults", json=faults, timeout=5).raise_for_status()

    def airflow_connection(self) -> dict:
        """The Airflow connection (JSON form) a target uses to reach this stand-in."""
        return {
            "conn_type": "http",
            "host": "127.0.0.1",
            "port": self.port,
            "schema": "http",
            "login": self.app_key,
            "password": self.app_secret,
            "extra": {"auth": self.auth, "timeout": 10, "base_delay": 0.2, "max_delay": 5},
        }

    def __enter__(self) -> StandinProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
