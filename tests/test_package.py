"""What importing the package sets up for the process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_THREADS = "import credit_sync, polars; print(polars.thread_pool_size())"


@pytest.mark.parametrize(("environment", "threads"), [(None, "1"), ("2", "2")])
def test_polars_runs_one_thread_unless_the_environment_says_otherwise(
    environment: str | None, threads: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "POLARS_MAX_THREADS"}
    if environment is not None:
        env["POLARS_MAX_THREADS"] = environment
    out = subprocess.run(
        [sys.executable, "-c", _THREADS], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == threads
