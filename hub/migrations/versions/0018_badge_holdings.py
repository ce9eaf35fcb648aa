"""Who held each badge when: a tap reaching the hub late is its holder's then, not the
badge's holder now.

Existing badges, whose earlier holders were not recorded: one holding each, for their holder
now, open towards the past (as the first holding of a new badge is: the taps imported after
the members file stay theirs) and until the badge was taken back (`revoked_at`, else its last
change) for an inactive one, still open for an active one.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "badge_holdings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uid", sa.String(length=20), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("held_from", _TIME, nullable=True),
        sa.Column("held_until", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_badge_holdings_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badge_holdings")),
    )
    op.create_index(op.f("ix_badge_holdings_member_id"), "badge_holdings", ["member_id"])
    op.create_index(op.f("ix_badge_holdings_uid_held_from"), "badge_holdings", ["uid", "held_from"])
    op.execute(
        "INSERT INTO badge_holdings (uid, member_id, held_from, held_until)"
        " SELECT uid, member_id, NULL,"
        " CASE WHEN active THEN NULL ELSE COALESCE(revoked_at, updated_at) END"
        " FROM badges ORDER BY uid"
    )


def downgrade() -> None:
    op.drop_table("badge_holdings")
