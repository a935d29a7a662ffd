"""Initial schema: keys, tokens, audit events, usage ledger.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade():
    _keys()
    _tokens()
    _audit()
    _usage()


def _keys():
    op.create_table(
        "api_keys",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False, server_default=""),
        sa.Column("fingerprint", sa.String(32), nullable=False, server_default=""),
        sa.Column("meta", sa.Text, nullable=False, server_default="{}"),
        sa.Column("test_ok", sa.Boolean, nullable=True),
        sa.Column("test_status", sa.String(24), nullable=True),
        sa.Column("test_message", sa.Text, nullable=True),
        sa.Column("tested_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("user_id", "provider", name="uq_api_keys_user_provider"),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])


def _tokens():
    op.create_table(
        "api_tokens",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("label", sa.String(128), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])


def _audit():
    op.create_table(
        "audit_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("ts", TS, nullable=False),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False, server_default=""),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False, server_default=""),
        sa.Column("detail", sa.String(500), nullable=False, server_default=""),
    )
    op.create_index("ix_audit_user_ts", "audit_events", ["user_id", "id"])


def _usage():
    op.create_table(
        "usage_records",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("ts", TS, nullable=False),
        sa.Column("request_id", sa.String(40), nullable=False, server_default=""),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False, server_default=""),
        sa.Column("model", sa.String(128), nullable=False, server_default=""),
        sa.Column("kind", sa.String(16), nullable=False, server_default="chat"),
        sa.Column("route_reason", sa.String(300), nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cached_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reasoning_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cost_usd", sa.Float, nullable=True),
        sa.Column("baseline_cost_usd", sa.Float, nullable=True),
        sa.Column("savings_usd", sa.Float, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False, server_default="0"),
        sa.Column("ttft_ms", sa.Float, nullable=True),
        sa.Column("status", sa.String(24), nullable=False, server_default="ok"),
        sa.Column("error_code", sa.String(48), nullable=False, server_default=""),
        sa.Column("streamed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("estimated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("unpriced", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_usage_user_ts", "usage_records", ["user_id", "ts"])


def downgrade():
    for table in ("usage_records", "audit_events", "api_tokens", "api_keys"):
        op.drop_table(table)
