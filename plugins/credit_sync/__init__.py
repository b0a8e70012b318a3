"""credit-sync: 双公示 permit and penalty records from department databases to the credit platforms."""

import os

__version__ = "0.1.0"

# Polars' thread pool: one thread unless the worker's environment sets another number
# (Polars reads it once, when it is first imported). A pull already runs its reader,
# writer and checkpoint threads beside the extraction's on 10,000-row chunks, and
# Airflow runs departments side by side: Polars' own per-query threads cost more in
# hand-overs than they gained (PostgreSQL pulls 10-15% faster with one, MariaDB the
# same; docs/benchmarks.md).
os.environ.setdefault("POLARS_MAX_THREADS", "1")
