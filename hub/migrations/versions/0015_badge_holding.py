"""When a badge was given to its holder and taken back: a reused card's taps with no holder
stored are its holder's only in between, so a member's export holds no one else's taps.

Existing badges, whose history was not recorded:
- `assigned_at`: the holder's first tap recognised as theirs, or the row's last change if
  that is earlier or they never tapped. A tap stored with their id was made while they held
  it, so they held it by then; and the last change of the row (its giving, a revocation, a
  reactivation) came no earlier than its giving to them. Taps with no holder before that
  (a previous holder's, the enrolment tap) are no longer theirs.
- `revoked_at`: for an inactive badge, the row's last change (what made it inactive);
  none for an active one.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 17:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("badges") as batch:
        batch.add_column(sa.Column("assigned_at", _TIME, nullable=True))
        batch.add_column(sa.Column("revoked_at", _TIME, nullable=True))
    op.execute(
        "UPDATE badges SET assigned_at = (SELECT MIN(events.ts) FROM events"
        " WHERE events.badge = badges.uid AND events.member_id = badges.member_id)"
    )
    op.execute(
        "UPDATE badges SET assigned_at = updated_at"
        " WHERE assigned_at IS NULL OR updated_at < assigned_at"
    )
    op.execute("UPDATE badges SET revoked_at = updated_at WHERE NOT active")
    with op.batch_alter_table("badges") as batch:
        batch.alter_column("assigned_at", existing_type=_TIME, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("badges") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("assigned_at")
