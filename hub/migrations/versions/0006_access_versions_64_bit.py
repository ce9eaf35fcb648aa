"""Access list versions are the hub's issue time in milliseconds: 64-bit integers, both the
versions issued (`access_list_versions.version`) and the one each device reports
(`devices.access_version`).

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-01 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_list_versions") as batch:
        batch.alter_column(
            "version", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
        )
    with op.batch_alter_table("devices") as batch:
        batch.alter_column(
            "access_version",
            existing_type=sa.Integer(),
            type_=sa.BigInteger(),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.alter_column("access_version", existing_type=sa.BigInteger(), type_=sa.Integer())
    with op.batch_alter_table("access_list_versions") as batch:
        batch.alter_column("version", existing_type=sa.BigInteger(), type_=sa.Integer())
