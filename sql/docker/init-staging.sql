-- The staging store lives beside Airflow's metadata database on the compose PostgreSQL.
CREATE DATABASE credit_sync_staging OWNER airflow;
