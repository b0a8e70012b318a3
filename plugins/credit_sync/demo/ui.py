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
    demo_connections,
    standin_processes,
)
from credit_sync.demo.runner import ensure_airflow_db
from credit_sync.demo.seed import seed


def main() -> int:
    from datetime import date

    paths = DemoPaths.default()
    (paths.airflow_home / "logs").mkdir(parents=True, exist_ok=True)
    databases = seed(paths.demo, date.today())
    log = paths.airflow_home / "logs" / "ui.log"
    ensure_airflow_db(paths, airflow_env(paths, {}), log)
    standins = standin_processes(paths)
    for name, standin in standins.items():
        standin.start()
        print(f"stand-in {name} on {standin.base_url}", flush=True)
    connections = demo_connections(databases, standins)
    airflow = str(Path(sys.executable).with_name("airflow"))
    try:
        return subprocess.call([airflow, "standalone"], env=airflow_env(paths, connections))
    except KeyboardInterrupt:
        return 0
    finally:
        for standin in standins.values():
            standin.stop()


if __name__ == "__main__":
    sys.exit(main())
