"""Thin Airflow hooks: turn Airflow Connections into engines and HTTP clients."""
