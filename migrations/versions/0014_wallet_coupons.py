"""wallet coupons (issue 14, item 6): coupon templates made WeChat card coupons, and the
coupons members added to their WeChat card wallet

Revision ID: 0014_wallet_coupons
Revises: 0013_gift_handover
"""
from alembic import op
import sqlalchemy as sa

revision = "0014_wallet_coupons"
down_revision = "0013_gift_handover"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "coupon_wechat_cards",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("template_id", sa.Integer(), sa.ForeignKey("coupon_templates.id"), nullable=False, unique=True),
        sa.Column("card_id", sa.String(64), nullable=False, unique=True),
        sa.Column("card_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("refuse_reason", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "coupon_wechat_codes",
        sa.Column("coupon_id", BIGID, sa.ForeignKey("coupons.id"), primary_key=True),
        sa.Column("card_id", sa.String(64), nullable=False),
        sa.Column("code", sa.String(20), nullable=False, unique=True),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("got_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.Column("consumed_at", sa.DateTime(), nullable=True),
        sa.Column("consume_source", sa.String(32), nullable=False),
    )


def downgrade():
    op.drop_table("coupon_wechat_codes")
    op.drop_table("coupon_wechat_cards")
