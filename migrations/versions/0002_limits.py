"""Per-user limits and their window counters.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user_limits",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("requests_per_minute", sa.Integer, nullable=True),
        sa.Column("tokens_per_minute", sa.Integer, nullable=True),
        sa.Column("monthly_usd", sa.Float, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "limit_counters",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("window", sa.BigInteger, primary_key=True),
        sa.Column("used", sa.Float, nullable=False, server_default="0"),
    )


def downgrade():
    op.drop_table("limit_counters")
    op.drop_table("user_limits")
