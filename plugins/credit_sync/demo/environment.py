"""The embedded default: an Airflow home inside the repo (SQLite metadata, LocalExecutor),
demo department databases, stand-in credentials, and the environment that ties them."""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from credit_sync.config import PROJECT_HOME, runtime_dir
from credit_sync.standins.process import StandinProcess


@dataclass(frozen=True)
class DemoPaths:
    home: Path  # the repo
    airflow_home: Path
    demo: Path

    @classmethod
    def default(cls) -> DemoPaths:
        airflow_home = runtime_dir()
        return cls(PROJECT_HOME, airflow_home, airflow_home / "demo")

    @property
    def staging_url(self) -> str:
        return (
            os.environ.get("CREDIT_SYNC_STAGING_URL")
            or f"sqlite:///{self.airflow_home / 'staging.db'}"
        )


def demo_credentials(paths: DemoPaths) -> dict[str, dict[str, str]]:
    """Per stand-in app key and secret, generated once per checkout (file mode 0600)."""
    path = paths.demo / "credentials.json"
    if path.exists():
        return json.loads(path.read_text())
    paths.demo.mkdir(parents=True, exist_ok=True)
    creds = {
        name: {"app_key": f"demo-{name}", "app_secret": secrets.token_urlsafe(24)}
        for name in ("provincial", "xybaiyin")
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh)
    return creds


def airflow_env(paths: DemoPaths, connections: dict[str, dict]) -> dict[str, str]:
    """Environment for Airflow processes of the embedded default. Connections are passed
    as AIRFLOW_CONN_* variables (JSON form), so nothing is written to the metadata DB."""
    env = {
        **os.environ,
        # Airflow's own child processes (standalone, LocalExecutor) look `airflow` up on PATH.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "AIRFLOW_HOME": str(paths.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(paths.home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(paths.home / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{paths.airflow_home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(paths.airflow_home / "logs"),
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
        "CREDIT_SYNC_HOME": str(paths.home),
        "CREDIT_SYNC_AIRFLOW_HOME": str(paths.airflow_home),
        "CREDIT_SYNC_STAGING_URL": paths.staging_url,
        "GX_ANALYTICS_ENABLED": "False",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    for conn_id, conn in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return env


def department_connections(databases: dict[str, Path]) -> dict[str, dict]:
    return {
        f"dept_{code}": {"conn_type": "sqlite", "host": str(path)}
        for code, path in databases.items()
    }


@dataclass(frozen=True)
class StandinSpec:
    name: str
    profile: str
    conn_id: str
    auth: str


# The demo exercises both authentication modes of the contract.
STANDINS = (
    StandinSpec("provincial", "provincial", "credit_provincial", "token"),
    StandinSpec("xybaiyin", "public", "credit_xybaiyin", "signature"),
)


def standin_processes(paths: DemoPaths) -> dict[str, StandinProcess]:
    """The demo's stand-ins (not started), persisting under the demo directory."""
    creds = demo_credentials(paths)
    return {
        spec.name: StandinProcess(
            spec.profile,
            paths.demo / f"standin-{spec.name}.db",
            creds[spec.name]["app_key"],
            creds[spec.name]["app_secret"],
            auth=spec.auth,
            log_path=paths.airflow_home / "logs" / f"standin-{spec.name}.log",
        )
        for spec in STANDINS
    }


def demo_connections(databases: dict[str, Path], standins: dict[str, StandinProcess]) -> dict:
    """Airflow connections of the embedded default: departments and (started) stand-ins."""
    connections = department_connections(databases)
    for spec in STANDINS:
        connections[spec.conn_id] = standins[spec.name].airflow_connection()
    return connections
