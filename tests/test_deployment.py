"""docker-compose.yaml can't be run here (no Docker engine); check what can drift."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_compose_file_parses_and_names_every_airflow_component() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    services = compose["services"]
    assert {
        "postgres",
        "airflow-init",
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
        "standin-provincial",
        "standin-xybaiyin",
    } <= set(services)
    for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
        assert services[name]["command"] == f"airflow {name}"
        env = services[name]["environment"]
        assert "AIRFLOW_CONN_CREDIT_SYNC_STAGING" in env and "AIRFLOW_CONN_CREDIT_PROVINCIAL" in env


def test_every_compose_variable_is_documented_in_env_example() -> None:
    used = set(re.findall(r"\$\{(\w+)", (REPO / "docker-compose.yaml").read_text()))
    documented = {
        line.split("=")[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert used <= documented


def test_image_matches_the_locked_airflow_version() -> None:
    locked = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.lock").read_text(), re.M)
    image = re.search(
        r"^FROM apache/airflow:(\S+)-python3\.11$", (REPO / "Dockerfile").read_text(), re.M
    )
    assert locked and image and locked.group(1) == image.group(1)
