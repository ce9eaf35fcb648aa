"""Months of sessions summed up for the reports, and triggers that say which days changed.

`report_months` holds one site's local month summed up (`hub.reports.months`);
`report_stale` the sites' UTC days whose sessions changed since: triggers on `sessions` write
it in the transaction of each change, whatever wrote it, so a report never trusts a month
that changed. Every session stored before this revision marks its day, so the months are
summed up once by the hub's next refresh.

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Only what the figures read: an update of a session's other columns (its taps' ids, its
#: `final` flag) changes no report.
_READ = 'start, "end", member_id, pseudonym, site_id'

_SQLITE = [
    """CREATE TRIGGER sessions_report_stale_insert AFTER INSERT ON sessions BEGIN
        INSERT OR IGNORE INTO report_stale (site_id, day)
        VALUES (NEW.site_id, substr(NEW.start, 1, 10));
    END""",
    """CREATE TRIGGER sessions_report_stale_delete AFTER DELETE ON sessions BEGIN
        INSERT OR IGNORE INTO report_stale (site_id, day)
        VALUES (OLD.site_id, substr(OLD.start, 1, 10));
    END""",
    f"""CREATE TRIGGER sessions_report_stale_update AFTER UPDATE OF {_READ} ON sessions BEGIN
        INSERT OR IGNORE INTO report_stale (site_id, day)
        VALUES (OLD.site_id, substr(OLD.start, 1, 10)), (NEW.site_id, substr(NEW.start, 1, 10));
    END""",
]
_POSTGRESQL = [
    """CREATE FUNCTION sessions_report_stale() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            INSERT INTO report_stale (site_id, day)
            VALUES (OLD.site_id, (OLD.start AT TIME ZONE 'UTC')::date)
            ON CONFLICT DO NOTHING;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO report_stale (site_id, day)
            VALUES (NEW.site_id, (NEW.start AT TIME ZONE 'UTC')::date)
            ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER sessions_report_stale
    AFTER INSERT OR DELETE OR UPDATE OF {_READ} ON sessions
    FOR EACH ROW EXECUTE FUNCTION sessions_report_stale()""",
]


def upgrade() -> None:
    op.create_table(
        "report_months",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("site_id", sa.String(length=48), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("used_us", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.JSON(), nullable=False),
        sa.Column("slots", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("month", "site_id", name=op.f("pk_report_months")),
    )
    op.create_table(
        "report_stale",
        sa.Column("site_id", sa.String(length=48), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "day", name=op.f("pk_report_stale")),
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRESQL if postgresql else _SQLITE:
        op.execute(statement)
    day = "(start AT TIME ZONE 'UTC')::date" if postgresql else "substr(start, 1, 10)"
    op.execute(
        f"INSERT INTO report_stale (site_id, day) SELECT DISTINCT site_id, {day} FROM sessions"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER sessions_report_stale ON sessions")
        op.execute("DROP FUNCTION sessions_report_stale()")
    else:
        for change in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER sessions_report_stale_{change}")
    op.drop_table("report_stale")
    op.drop_table("report_months")
