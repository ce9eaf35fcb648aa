"""Duplicates known for ever and end-to-end acknowledgement: `event_ids` (every event id ever
stored, kept beyond retention) and `device_marks` (how far the hub holds each device's events).

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 12:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_ids",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=48), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_ids")),
    )
    op.create_table(
        "device_marks",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("site", sa.String(length=48), nullable=False),
        sa.Column("committed_seq", sa.Integer(), nullable=False),
        sa.Column("floor", sa.Integer(), nullable=False),
        sa.Column("published_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_marks")),
    )
    # The events still stored are the ids known so far (those retention deleted are gone:
    # from now on, ids outlive their events). The index comes after the bulk copy.
    op.execute(
        "INSERT INTO event_ids (id, device, seq, received_at) "
        "SELECT id, device, seq, received_at FROM events"
    )
    op.create_index("ix_event_ids_device_seq", "event_ids", ["device", "seq"], unique=False)
    # Marks start at 0: each device's status (its `outbox_floor`) lifts its mark over the
    # history retention deleted, and the ids above make it climb from there.
    op.execute(
        "INSERT INTO device_marks (id, site, committed_seq, floor, published_seq, updated_at) "
        "SELECT device, min(site), 0, 0, 0, max(received_at) FROM events GROUP BY device"
    )


def downgrade() -> None:
    op.drop_table("device_marks")
    op.drop_index("ix_event_ids_device_seq", table_name="event_ids")
    op.drop_table("event_ids")
