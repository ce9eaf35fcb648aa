"""The members' own space: one-time links and codes, and members' sessions.

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def _secrets_table(name: str, *columns: sa.Column[object]) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        *columns,
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f(f"fk_{name}_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("secret_hash", name=op.f(f"uq_{name}_secret_hash")),
    )
    op.create_index(op.f(f"ix_{name}_member_id"), name, ["member_id"])


def upgrade() -> None:
    _secrets_table(
        "member_passes",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("used_at", _TIME, nullable=True),
    )
    _secrets_table("member_sessions", sa.Column("ended_at", _TIME, nullable=True))


def downgrade() -> None:
    op.drop_table("member_sessions")
    op.drop_table("member_passes")
