"""Years of stored months summed up together for the reports (`hub.reports.months`): a
report of whole years reads one row a site instead of twelve.

The years are summed up here from the months already stored, year by year (a national
network's ten years are 120,000 months), so that reports are fast from the upgrade on; the
hub's refresh keeps them from then on, with their months.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MONTHS = sa.table(
    "report_months",
    sa.column("month", sa.String()),
    sa.column("site_id", sa.String()),
    sa.column("timezone", sa.String()),
    sa.column("used_us", sa.BigInteger()),
    sa.column("users", sa.JSON()),
    sa.column("slots", sa.JSON()),
)


def _years(connection: sa.Connection, year: str) -> list[dict[str, Any]]:
    """The year's months of every site summed up as `hub.rules.months.year_tally` does; a
    site whose months were read in two zones is left to its months."""
    summed: dict[str, dict[str, Any]] = {}
    rows = connection.execute(
        sa.select(_MONTHS).where(_MONTHS.c.month.between(f"{year}-01", f"{year}-12"))
    )
    for month, site_id, zone, used_us, users, slots in rows:
        row = summed.setdefault(
            site_id,
            {
                "year": year,
                "site_id": site_id,
                "timezone": zone,
                "used_us": 0,
                "users": set(),
                "slots": [0] * len(slots),
                "months_us": [0] * 12,
            },
        )
        if row["timezone"] != zone:
            row["timezone"] = None
        row["users"].update(users)
        row["used_us"] += used_us
        row["months_us"][int(month[5:]) - 1] += used_us
        if used_us:
            row["slots"] = [a + b for a, b in zip(row["slots"], slots, strict=True)]
    return [
        {**row, "users": sorted(row["users"])}
        for row in summed.values()
        if row["timezone"] is not None
    ]


def upgrade() -> None:
    table = op.create_table(
        "report_years",
        sa.Column("year", sa.String(length=4), nullable=False),
        sa.Column("site_id", sa.String(length=48), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("used_us", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.JSON(), nullable=False),
        sa.Column("slots", sa.JSON(), nullable=False),
        sa.Column("months_us", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("year", "site_id", name=op.f("pk_report_years")),
    )
    connection = op.get_bind()
    first = sa.func.substr(_MONTHS.c.month, 1, 4)
    years = connection.execute(sa.select(first).distinct().order_by(first)).scalars().all()
    for year in years:
        rows = _years(connection, year)
        if rows:
            connection.execute(sa.insert(table), rows)


def downgrade() -> None:
    op.drop_table("report_years")
