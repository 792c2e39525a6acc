"""coupons (issue 14): coupon templates, coupons, and the member's count of coupons held

Revision ID: 0008_coupons
Revises: 0007_till_caches
"""
from alembic import op
import sqlalchemy as sa

revision = "0008_coupons"
down_revision = "0007_till_caches"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "coupon_templates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("title_zh", sa.String(60), nullable=False),
        sa.Column("title_en", sa.String(60), nullable=False),
        sa.Column("description_zh", sa.String(255), nullable=False),
        sa.Column("description_en", sa.String(255), nullable=False),
        sa.Column("color", sa.String(7), nullable=False),
        sa.Column("face_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("percent_off", sa.Integer(), nullable=False),
        sa.Column("cap_fen", sa.BigInteger(), nullable=True),
        sa.Column("item_sku", sa.String(64), nullable=False),
        sa.Column("min_spend_fen", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("valid_days", sa.Integer(), nullable=True),
        sa.Column("start_delay_days", sa.Integer(), nullable=False),
        sa.Column("restrictions", sa.JSON(), nullable=False),
        sa.Column("combinable", sa.Boolean(), nullable=False),
        sa.Column("with_points", sa.Boolean(), nullable=False),
        sa.Column("stock_total", sa.Integer(), nullable=True),
        sa.Column("issued_count", sa.Integer(), nullable=False),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("points_price", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "coupons",
        sa.Column("id", BIGID, primary_key=True),
        sa.Column("code", sa.String(20), nullable=False, unique=True),
        sa.Column("template_id", sa.Integer(), sa.ForeignKey("coupon_templates.id"), nullable=False),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("source_ref", sa.String(128), nullable=False, unique=True),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("used_transaction_id", BIGID, sa.ForeignKey("transactions.id"), nullable=True),
        sa.Column("used_store_id", sa.Integer(), sa.ForeignKey("stores.id"), nullable=True),
        sa.Column("discount_fen", sa.BigInteger(), nullable=False),
        sa.Column("basket_fen", sa.BigInteger(), nullable=False),
        sa.Column("restored_at", sa.DateTime(), nullable=True),
        sa.Column("reminded_on", sa.Date(), nullable=True),
    )
    op.create_index("ix_coupons_template_id", "coupons", ["template_id"])
    op.create_index("ix_coupons_used_transaction_id", "coupons", ["used_transaction_id"])
    op.create_index("ix_coupons_member_status", "coupons", ["member_id", "status", "valid_until"])
    op.create_index("ix_coupons_status_until", "coupons", ["status", "valid_until"])
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("coupons_held", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("members") as batch:
        batch.drop_column("coupons_held")
    op.drop_table("coupons")
    op.drop_table("coupon_templates")
