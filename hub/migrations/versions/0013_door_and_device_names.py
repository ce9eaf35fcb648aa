"""Names people read: each site's doors get a display name ("Porte d'entrée") and its edge
devices a label, from the sites file; ids stay the keys everywhere else.

Revision ID: 0013
Revises: 0005
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("door_names", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("device_labels", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("device_labels")
        batch.drop_column("door_names")
