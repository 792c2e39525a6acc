"""analytics (issue 16): rollups the reports read, their watermarks, imported rows; indexes
for distinct buying members per range and new members per day

Revision ID: 0009_analytics
Revises: 0008_coupons
"""
from alembic import op
import sqlalchemy as sa

revision = "0009_analytics"
down_revision = "0008_coupons"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "analytics_sales_daily",
        sa.Column("id", BIG, nullable=False),
        sa.Column("dim", sa.String(length=16), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("tier_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        *[sa.Column(c, sa.BigInteger(), nullable=False) for c in (
            "purchases", "refunds", "gross_fen", "refund_fen", "qty", "points_earned", "points_redeemed",
            "member_purchases")],
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_sales_daily")),
        sa.UniqueConstraint("dim", "business_date", "store_id", "tier_id", "value",
                            name="uq_analytics_sales_daily_cell"),
    )
    op.create_table(
        "analytics_ledger_daily",
        sa.Column("id", BIG, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("cause", sa.String(length=24), nullable=False),
        sa.Column("credit", sa.BigInteger(), nullable=False),
        sa.Column("debit", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_ledger_daily")),
        sa.UniqueConstraint("kind", "business_date", "store_id", "cause", name="uq_analytics_ledger_daily_cell"),
    )
    op.create_table(
        "analytics_member_summary",
        sa.Column("member_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("first_date", sa.Date(), nullable=False),
        sa.Column("last_date", sa.Date(), nullable=False),
        sa.Column("purchases", sa.BigInteger(), nullable=False),
        sa.Column("net_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_analytics_member_summary")),
    )
    op.create_table(
        "analytics_watermarks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_analytics_watermarks")),
    )
    op.create_table(
        "analytics_import_rows",
        sa.Column("id", BIG, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_import_rows")),
        sa.UniqueConstraint("kind", "key", name="uq_analytics_import_rows_key"),
    )
    with op.batch_alter_table("transactions") as batch_op:
        batch_op.create_index("ix_transactions_date_member", ["business_date", "member_id", "kind"], unique=False)
    with op.batch_alter_table("members") as batch_op:
        batch_op.create_index("ix_members_joined_on", ["joined_on"], unique=False)


def downgrade():
    with op.batch_alter_table("members") as batch_op:
        batch_op.drop_index("ix_members_joined_on")
    with op.batch_alter_table("transactions") as batch_op:
        batch_op.drop_index("ix_transactions_date_member")
    for name in ("analytics_import_rows", "analytics_watermarks", "analytics_member_summary",
                 "analytics_ledger_daily", "analytics_sales_daily"):
        op.drop_table(name)
