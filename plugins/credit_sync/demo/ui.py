"""`make ui`: the full Airflow UI (`airflow standalone`) on the embedded default, with the
demo departments and both stand-ins running, until Ctrl-C.

The UI is on http://127.0.0.1:8080; `airflow standalone` prints the admin password it
generated (also in .airflow/simple_auth_manager_passwords.json.generated).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from credit_sync.demo.environment import (
    DemoPaths,
    airflow_env,
    demo_credentials,
    department_connections,
)
from credit_sync.demo.runner import STANDINS, ensure_airflow_db
from credit_sync.demo.seed import seed
from credit_sync.standins.process import StandinProcess


def main() -> int:
    from datetime import date

    paths = DemoPaths.default()
    (paths.airflow_home / "logs").mkdir(parents=True, exist_ok=True)
    databases = seed(paths.demo, date.today())
    creds = demo_credentials(paths)
    log = paths.airflow_home / "logs" / "ui.log"
    ensure_airflow_db(paths, airflow_env(paths, {}), log)
    standins = [
        StandinProcess(
            profile,
            paths.demo / f"standin-{name}.db",
            creds[name]["app_key"],
            creds[name]["app_secret"],
            log_path=paths.airflow_home / "logs" / f"standin-{name}.log",
        ).start()
        for name, (profile, _) in STANDINS.items()
    ]
    connections = department_connections(databases)
    for (name, (_, conn_id)), standin in zip(STANDINS.items(), standins, strict=True):
        connections[conn_id] = standin.airflow_connection()
        print(f"stand-in {name} on {standin.base_url}", flush=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    try:
        return subprocess.call([airflow, "standalone"], env=airflow_env(paths, connections))
    except KeyboardInterrupt:
        return 0
    finally:
        for standin in standins:
            standin.stop()


if __name__ == "__main__":
    sys.exit(main())
