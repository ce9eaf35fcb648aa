"""Closed months and invoices as records: invoice lines, invoices, the close's lock, the
sites' invoicing details and the members' postal address.

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A constant default: SQLite adds the column in place (an expression would make Alembic
    # rebuild the table, which the other tables' foreign keys to it forbid).
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("invoicing", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("address", sa.Text(), nullable=True))
    state = op.create_table(
        "billing_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_closed", sa.String(length=7), nullable=True),
        sa.Column("updated_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_state")),
    )
    op.bulk_insert(state, [{"id": 1, "last_closed": None, "updated_at": None}])
    op.create_table(
        "billing_months",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("closed_at", _TIME, nullable=False),
        sa.Column("closed_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_billing_months")),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=48), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("net_cents", sa.BigInteger(), nullable=False),
        sa.Column("vat_rate", sa.String(length=8), nullable=True),
        sa.Column("vat_cents", sa.BigInteger(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("issuer", sa.JSON(), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("reference", name=op.f("uq_invoices_reference")),
    )
    op.create_index("ix_invoices_site_id_number", "invoices", ["site_id", "number"], unique=True)
    op.create_index(op.f("ix_invoices_month"), "invoices", ["month"], unique=False)
    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("corrects", sa.String(length=7), nullable=True),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("member_name", sa.String(length=401), nullable=False),
        sa.Column("member_email", sa.String(length=320), nullable=True),
        sa.Column("member_address", sa.Text(), nullable=True),
        sa.Column("site_id", sa.String(length=48), nullable=False),
        sa.Column("rate_set", sa.String(length=8), nullable=False),
        sa.Column("hours_e4", sa.BigInteger(), nullable=False),
        sa.Column("free_hours_e4", sa.BigInteger(), nullable=False),
        sa.Column("billed_hours_e4", sa.BigInteger(), nullable=False),
        sa.Column("hourly_cents", sa.BigInteger(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("erased_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["month"], ["billing_months.month"], name=op.f("fk_invoice_lines_month_billing_months")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_lines_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
    )
    op.create_index(op.f("ix_invoice_lines_corrects"), "invoice_lines", ["corrects"])
    op.create_index(op.f("ix_invoice_lines_invoice_id"), "invoice_lines", ["invoice_id"])
    op.create_index(op.f("ix_invoice_lines_member_id"), "invoice_lines", ["member_id"])
    op.create_index("ix_invoice_lines_month_site_id", "invoice_lines", ["month", "site_id"])


def downgrade() -> None:
    op.drop_index("ix_invoice_lines_month_site_id", table_name="invoice_lines")
    op.drop_index(op.f("ix_invoice_lines_member_id"), table_name="invoice_lines")
    op.drop_index(op.f("ix_invoice_lines_invoice_id"), table_name="invoice_lines")
    op.drop_index(op.f("ix_invoice_lines_corrects"), table_name="invoice_lines")
    op.drop_table("invoice_lines")
    op.drop_index(op.f("ix_invoices_month"), table_name="invoices")
    op.drop_index("ix_invoices_site_id_number", table_name="invoices")
    op.drop_table("invoices")
    op.drop_table("billing_months")
    op.drop_table("billing_state")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("address")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("invoicing")
