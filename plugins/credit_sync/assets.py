"""Names shared by the DAG files (kept import-light: DAG files load this at parse time)."""

OUTBOX_ASSET_URI = "credit-sync://staging/outbox"
DELIVERY_DAG_ID = "credit_sync_delivery"
SOURCES_POOL = "credit_sync_sources"  # bounds concurrent queries against department databases
TARGETS_POOL = "credit_sync_targets"  # bounds concurrent uploads to the platforms
TAGS = ["credit-sync", "双公示"]
RERUN_DAG_ID = "credit_sync_rerun"  # the operators' form: rerun one department
DEPARTMENT_DAG_PREFIX = "credit_sync_dept_"  # + department code
