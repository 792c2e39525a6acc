"""analytics (issue 16): buyer-day counts per business day and previous day, so the members
who bought in a range are a sum over at most days x previous days cells, however many
transactions the range holds

Revision ID: 0018_buyer_day_counts
Revises: 0017_membership_pay
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_buyer_day_counts"
down_revision = "0017_membership_pay"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "analytics_buyer_day_counts",
        sa.Column("store_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("prev_date", sa.Date(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "business_date", "prev_date", name=op.f("pk_analytics_buyer_day_counts")),
    )
    # From the buyer days already rolled up (store 0: all stores, with the previous day anywhere).
    op.execute(sa.text("""
        INSERT INTO analytics_buyer_day_counts (store_id, business_date, prev_date, n)
        SELECT 0, business_date, prev_date, COUNT(*) FROM analytics_buyer_days GROUP BY business_date, prev_date
        UNION ALL
        SELECT store_id, business_date, prev_store_date, COUNT(*) FROM analytics_buyer_days
        GROUP BY store_id, business_date, prev_store_date"""))


def downgrade():
    op.drop_table("analytics_buyer_day_counts")
