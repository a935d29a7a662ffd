"""Hourly usage rollups (so /usage aggregates stay fast on millions of rows), backfilled.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "usage_rollups",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("hour", sa.BigInteger, primary_key=True),
        sa.Column("provider", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(128), primary_key=True),
        *[sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
          for name in ("requests", "prompt_tokens", "completion_tokens")],
        *[sa.Column(name, sa.Float, nullable=False, server_default="0")
          for name in ("cost_usd", "baseline_cost_usd", "savings_usd")],
        *[sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
          for name in ("unpriced", "failed")],
    )
    from usage_rollup import rebuild_sql
    op.execute(rebuild_sql(op.get_bind().dialect.name))


def downgrade():
    op.drop_table("usage_rollups")
