"""Staging tables (SQLAlchemy Core). Alembic migrations under `sql/migrations` create them;
this module mirrors the head revision for queries (a test checks they agree)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

staged_record = sa.Table(
    "staged_record",
    metadata,
    sa.Column("record_id", sa.String(255), primary_key=True),
    sa.Column("department", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("source_key", sa.String(200), nullable=False),
    sa.Column("business_key", sa.String(200)),  # the decision number (文书号)
    sa.Column("authority_code", sa.String(64)),
    sa.Column("payload", sa.JSON, nullable=False),  # canonical fields, normalised
    sa.Column("raw_hash", sa.String(64), nullable=False),  # of the row as the source sent it
    sa.Column("content_hash", sa.String(64), nullable=False),  # of what targets receive
    sa.Column("notes", sa.JSON),  # normalisations applied, per field
    sa.Column("problems", sa.JSON),  # values that could not be parsed at all
    sa.Column("public_cleared", sa.Boolean, nullable=False, default=False),
    sa.Column("source_updated_at", sa.DateTime),
    sa.Column("first_extracted_for", sa.DateTime, nullable=False),  # logical date
    sa.Column("last_extracted_for", sa.DateTime, nullable=False),
    sa.Column("validated_hash", sa.String(64)),
    sa.Column("valid", sa.Boolean),
    sa.Column("late", sa.Boolean, nullable=False, default=False),
    sa.Column("deleted_at", sa.DateTime),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_staged_record_dept_kind", "department", "kind"),
    sa.Index("ix_staged_record_business_key", "kind", "authority_code", "business_key"),
)

validation_failure = sa.Table(
    "validation_failure",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("record_id", sa.String(255), nullable=False),
    sa.Column("department", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("business_key", sa.String(200)),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("rule", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("value", sa.Text),  # personal ID numbers are masked before they get here
    sa.Column("first_seen_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("resolved_at", sa.DateTime),
    sa.UniqueConstraint("record_id", "rule", "field", name="uq_validation_failure_rule"),
    sa.Index("ix_validation_failure_dept", "department", "resolved_at"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("target", sa.String(40), nullable=False),
    sa.Column("record_id", sa.String(255), nullable=False),
    sa.Column("department", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("operation", sa.String(10), nullable=False),  # upsert | withdraw
    sa.Column("idempotency_key", sa.String(255), nullable=False),
    # pending -> sent -> [awaiting ->] accepted | rejected | failed; superseded when a
    # newer version came
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("platform_code", sa.String(40)),
    sa.Column("platform_message", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("completed_at", sa.DateTime),
    sa.UniqueConstraint("target", "idempotency_key", name="uq_outbox_target_key"),
    sa.Index("ix_outbox_target_state", "target", "state"),
    sa.Index("ix_outbox_record", "record_id"),
)

watermark = sa.Table(
    "watermark",
    metadata,
    sa.Column("department", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),
    sa.Column("value", sa.DateTime, nullable=False),
    sa.Column("tiebreak", sa.String(200)),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

validation_run = sa.Table(
    "validation_run",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("department", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("run_id", sa.String(250)),
    sa.Column("logical_date", sa.DateTime, nullable=False),
    sa.Column("checked", sa.Integer, nullable=False),
    sa.Column("valid", sa.Integer, nullable=False),
    sa.Column("invalid", sa.Integer, nullable=False),
    sa.Column("warnings", sa.Integer, nullable=False),
    sa.Column("data_docs", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
