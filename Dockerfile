# credit-sync on the official Airflow image; dependencies from the same lock file as `make`.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root requirements.lock pyproject.toml /opt/credit-sync/
RUN pip install --no-cache-dir -r /opt/credit-sync/requirements.lock
COPY --chown=airflow:root . /opt/credit-sync/
RUN pip install --no-cache-dir --no-deps -e /opt/credit-sync
ENV CREDIT_SYNC_HOME=/opt/credit-sync \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/credit-sync/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    GX_ANALYTICS_ENABLED=False
