"""Initial staging schema: staged records, validation failures, outbox, watermarks, runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staged_record",
        sa.Column("record_id", sa.String(255), primary_key=True),
        sa.Column("department", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("source_key", sa.String(200), nullable=False),
        sa.Column("business_key", sa.String(200)),
        sa.Column("authority_code", sa.String(64)),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("raw_hash", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("notes", sa.JSON),
        sa.Column("problems", sa.JSON),
        sa.Column("public_cleared", sa.Boolean, nullable=False),
        sa.Column("source_updated_at", sa.DateTime),
        sa.Column("first_extracted_for", sa.DateTime, nullable=False),
        sa.Column("last_extracted_for", sa.DateTime, nullable=False),
        sa.Column("validated_hash", sa.String(64)),
        sa.Column("valid", sa.Boolean),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("deleted_at", sa.DateTime),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_staged_record_dept_kind", "staged_record", ["department", "kind"])
    op.create_index(
        "ix_staged_record_business_key", "staged_record", ["kind", "authority_code", "business_key"]
    )
    op.create_table(
        "validation_failure",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.String(255), nullable=False),
        sa.Column("department", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("business_key", sa.String(200)),
        sa.Column("field", sa.String(40), nullable=False),
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("first_seen_at", sa.DateTime, nullable=False),
        sa.Column("last_seen_at", sa.DateTime, nullable=False),
        sa.Column("resolved_at", sa.DateTime),
        sa.UniqueConstraint("record_id", "rule", "field", name="uq_validation_failure_rule"),
    )
    op.create_index(
        "ix_validation_failure_dept", "validation_failure", ["department", "resolved_at"]
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(40), nullable=False),
        sa.Column("record_id", sa.String(255), nullable=False),
        sa.Column("department", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(10), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("platform_code", sa.String(40)),
        sa.Column("platform_message", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("completed_at", sa.DateTime),
        sa.UniqueConstraint("target", "idempotency_key", name="uq_outbox_target_key"),
    )
    op.create_index("ix_outbox_target_state", "outbox", ["target", "state"])
    op.create_index("ix_outbox_record", "outbox", ["record_id"])
    op.create_table(
        "watermark",
        sa.Column("department", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("value", sa.DateTime, nullable=False),
        sa.Column("tiebreak", sa.String(200)),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "validation_run",
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


def downgrade() -> None:
    for table in ("validation_run", "watermark", "outbox", "validation_failure", "staged_record"):
        op.drop_table(table)
