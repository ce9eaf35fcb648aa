"""Every site an audited change affects (`audit_sites`): a badge given at one site opens the
doors of all of them, so each of their animators sees the change in the audit log.

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-07 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_sites",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=48), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["audit_log.id"],
            name=op.f("fk_audit_sites_entry_id_audit_log"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", "site_id", name=op.f("pk_audit_sites")),
    )
    op.create_index(op.f("ix_audit_sites_site_id"), "audit_sites", ["site_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_sites_site_id"), table_name="audit_sites")
    op.drop_table("audit_sites")
