"""analytics (issue 16): buyer days, so distinct buying members over a range are a count of
index entries; coupons by the time they were issued and used (the coupons report)

Revision ID: 0015_buyer_days
Revises: 0014_wallet_coupons
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_buyer_days"
down_revision = "0014_wallet_coupons"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "analytics_buyer_days",
        sa.Column("member_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("store_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tier_id", sa.Integer(), nullable=False),
        sa.Column("prev_date", sa.Date(), nullable=False),
        sa.Column("prev_store_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "business_date", "store_id", name=op.f("pk_analytics_buyer_days")),
    )
    op.create_index("ix_analytics_buyer_days_range", "analytics_buyer_days", ["business_date", "prev_date", "tier_id"])
    op.create_index("ix_analytics_buyer_days_store", "analytics_buyer_days",
                    ["store_id", "business_date", "prev_store_date"])
    op.create_index("ix_coupons_issued_at", "coupons", ["issued_at"])
    op.create_index("ix_coupons_used_at", "coupons", ["used_at"])
    # Buyer days of the transactions already rolled up (the job adds the rest as it goes).
    op.execute(sa.text("""
        INSERT INTO analytics_buyer_days (member_id, business_date, store_id, tier_id, prev_date, prev_store_date)
        SELECT d.member_id, d.business_date, d.store_id, COALESCE(m.tier_id, 0),
               COALESCE(LAG(d.business_date) OVER (PARTITION BY d.member_id ORDER BY d.business_date, d.store_id),
                        '1970-01-01'),
               COALESCE(LAG(d.business_date) OVER (PARTITION BY d.member_id, d.store_id ORDER BY d.business_date),
                        '1970-01-01')
        FROM (SELECT DISTINCT t.member_id, t.business_date, t.store_id FROM transactions t
              WHERE t.kind = 'purchase' AND t.member_id IS NOT NULL
                AND t.id <= COALESCE((SELECT w.last_id FROM analytics_watermarks w WHERE w.name = 'sales'), 0)) d
        JOIN members m ON m.id = d.member_id"""))


def downgrade():
    op.drop_index("ix_coupons_used_at", table_name="coupons")
    op.drop_index("ix_coupons_issued_at", table_name="coupons")
    op.drop_index("ix_analytics_buyer_days_store", table_name="analytics_buyer_days")
    op.drop_index("ix_analytics_buyer_days_range", table_name="analytics_buyer_days")
    op.drop_table("analytics_buyer_days")
