"""The first schema: sites, members and badges, events, sessions, devices, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 17:40:28.035527
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=48), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)

    op.create_table(
        "devices",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("site", sa.String(length=48), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queue", sa.Integer(), nullable=True),
        sa.Column("clock_synced", sa.Boolean(), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("readers", sa.JSON(), nullable=False),
        sa.Column("doors", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
    )
    op.create_index(op.f("ix_devices_site"), "devices", ["site"], unique=False)

    op.create_table(
        "members",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("last_name", sa.String(length=200), nullable=False),
        sa.Column("first_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("pass_since", sa.Date(), nullable=True),
        sa.Column("pass_until", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
    )
    op.create_table(
        "rejected_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=256), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected_events")),
    )
    op.create_index(
        op.f("ix_rejected_events_received_at"), "rejected_events", ["received_at"], unique=False
    )

    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("commune", sa.String(length=200), nullable=True),
        sa.Column("zrr", sa.Boolean(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("annual_cost_eur", sa.Float(), nullable=True),
        sa.Column("opening", sa.JSON(), nullable=False),
        sa.Column("open_on_public_holidays", sa.Boolean(), nullable=False),
        sa.Column("closed", sa.JSON(), nullable=False),
        sa.Column("tariffs", sa.JSON(), nullable=False),
        sa.Column("rounding_min", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    op.create_table(
        "access_list_versions",
        sa.Column("site_id", sa.String(length=48), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("issued", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_access_list_versions_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("site_id", "version", name=op.f("pk_access_list_versions")),
    )
    op.create_table(
        "badges",
        sa.Column("uid", sa.String(length=20), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_badges_member_id_members")
        ),
        sa.PrimaryKeyConstraint("uid", name=op.f("pk_badges")),
    )
    op.create_index(op.f("ix_badges_member_id"), "badges", ["member_id"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=48), nullable=False),
        sa.Column("device", sa.String(length=48), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ts_offset_min", sa.Integer(), nullable=False),
        sa.Column("clock_synced", sa.Boolean(), nullable=False),
        sa.Column("badge", sa.String(length=20), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("reader", sa.String(length=48), nullable=True),
        sa.Column("access", sa.String(length=16), nullable=True),
        sa.Column("direction", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("door", sa.String(length=48), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_events_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_badge_ts", "events", ["badge", "ts"], unique=False)
    op.create_index("ix_events_member_id_ts", "events", ["member_id", "ts"], unique=False)
    op.create_index("ix_events_site_ts", "events", ["site", "ts"], unique=False)

    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("pseudonym", sa.String(length=64), nullable=True),
        sa.Column("site_id", sa.String(length=48), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("auto_closed", sa.Boolean(), nullable=False),
        sa.Column("start_event_id", sa.String(length=64), nullable=True),
        sa.Column("end_event_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_sessions_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_sessions_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    op.create_index("ix_sessions_member_id_start", "sessions", ["member_id", "start"], unique=False)
    op.create_index("ix_sessions_site_id_start", "sessions", ["site_id", "start"], unique=False)

    op.create_table(
        "spaces",
        sa.Column("site_id", sa.String(length=48), nullable=False),
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("positions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_spaces_site_id_sites")),
        sa.PrimaryKeyConstraint("site_id", "id", name=op.f("pk_spaces")),
    )


def downgrade() -> None:
    op.drop_table("spaces")
    op.drop_table("sessions")
    op.drop_table("events")
    op.drop_table("badges")
    op.drop_table("access_list_versions")
    op.drop_table("sites")
    op.drop_table("rejected_events")
    op.drop_table("members")
    op.drop_table("devices")
    op.drop_table("audit_log")
