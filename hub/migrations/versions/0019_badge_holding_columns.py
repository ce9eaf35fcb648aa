"""`badges.assigned_at` and `badges.revoked_at` go: who held a badge when is
`badge_holdings` (0018), which the member export and erasure now read too; the two columns
said the same of the current holder only, and could disagree with it.

Downgrade: the columns are filled again from the holdings, as 0015 would have them: a
badge's giving to its holder now (the start of their last holding, else the row's last
change) and, for an inactive badge, the end of that holding.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)
#: The badge's last holding of its holder now.
_LAST_HOLDING = (
    "SELECT {column} FROM badge_holdings WHERE badge_holdings.uid = badges.uid"
    " AND badge_holdings.member_id = badges.member_id ORDER BY badge_holdings.id DESC LIMIT 1"
)


def upgrade() -> None:
    with op.batch_alter_table("badges") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("assigned_at")


def downgrade() -> None:
    with op.batch_alter_table("badges") as batch:
        batch.add_column(sa.Column("assigned_at", _TIME, nullable=True))
        batch.add_column(sa.Column("revoked_at", _TIME, nullable=True))
    held_from = _LAST_HOLDING.format(column="held_from")
    op.execute(f"UPDATE badges SET assigned_at = COALESCE(({held_from}), updated_at)")
    held_until = _LAST_HOLDING.format(column="held_until")
    op.execute(
        f"UPDATE badges SET revoked_at = COALESCE(({held_until}), updated_at) WHERE NOT active"
    )
    with op.batch_alter_table("badges") as batch:
        batch.alter_column("assigned_at", existing_type=_TIME, nullable=False)
