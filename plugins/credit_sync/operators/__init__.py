"""Task bodies the DAG files wire: read the Airflow context, open hooks, call the logic."""
