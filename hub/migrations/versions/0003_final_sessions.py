"""Final and manual sessions, how a session ended, and what the hub made of each tap.

Revision ID: 0003
Revises: 0006
Create Date: 2026-12-01 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column("final", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("manual", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("manual_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("manual_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("manual_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("end_reason", sa.String(16), nullable=True))
        batch.add_column(sa.Column("natural_end", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("outcome", sa.String(16), nullable=True))
        batch.add_column(sa.Column("outcome_reason", sa.String(64), nullable=True))
    # Sessions closed before this revision: by a tap unless auto-closed.
    sessions = sa.table(
        "sessions",
        sa.column("end", sa.DateTime(timezone=True)),
        sa.column("auto_closed", sa.Boolean()),
        sa.column("end_reason", sa.String(16)),
        sa.column("natural_end", sa.DateTime(timezone=True)),
    )
    op.execute(
        sessions.update()
        .where(sessions.c.end.is_not(None))
        .values(
            end_reason=sa.case((sessions.c.auto_closed, "auto"), else_="tap"),
            natural_end=sessions.c.end,
        )
    )
    op.create_index("ix_events_outcome", "events", ["outcome"])


def downgrade() -> None:
    op.drop_index("ix_events_outcome", "events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("outcome_reason")
        batch.drop_column("outcome")
    with op.batch_alter_table("sessions") as batch:
        for column in (
            "natural_end",
            "end_reason",
            "manual_at",
            "manual_by",
            "manual_reason",
            "manual",
            "final",
        ):
            batch.drop_column(column)
