"""Alerts by e-mail: users' addresses and alert choices, the outgoing mail queue, incidents.

Revision ID: 0010
Revises: 0005
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("alert_kinds", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("quiet_start", sa.Time(), nullable=True))
        batch.add_column(sa.Column("quiet_end", sa.Time(), nullable=True))
    op.create_table(
        "mail_queue",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("thread", sa.String(length=100), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", _TIME, nullable=True),
        sa.Column("failed_at", _TIME, nullable=True),
        sa.Column("claimed_until", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_queue")),
    )
    op.create_index(op.f("ix_mail_queue_thread"), "mail_queue", ["thread"])
    op.create_index(
        "ix_mail_queue_sent_at_next_attempt_at", "mail_queue", ["sent_at", "next_attempt_at"]
    )
    op.create_table(
        "alert_incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=48), nullable=False),
        sa.Column("open_key", sa.String(length=200), nullable=True),
        sa.Column("began_at", _TIME, nullable=False),
        sa.Column("opened_at", _TIME, nullable=False),
        sa.Column("notified_at", _TIME, nullable=False),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("resolved_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_incidents")),
        sa.UniqueConstraint("open_key", name=op.f("uq_alert_incidents_open_key")),
    )
    op.create_index(op.f("ix_alert_incidents_site_id"), "alert_incidents", ["site_id"])


def downgrade() -> None:
    op.drop_table("alert_incidents")
    op.drop_table("mail_queue")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("quiet_end")
        batch.drop_column("quiet_start")
        batch.drop_column("alert_kinds")
        batch.drop_column("email")
