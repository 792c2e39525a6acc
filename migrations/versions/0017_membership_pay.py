"""paid membership by WeChat Pay (the order on membership_purchases), and how a closed
membership's stored value goes back (membership_closures)

Revision ID: 0017_membership_pay
Revises: 0016_claims_then
Create Date: 2026-11-30 09:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = "0017_membership_pay"
down_revision = "0016_claims_then"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('membership_purchases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=16), server_default='counter', nullable=False))
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='paid', nullable=False))
        batch_op.add_column(sa.Column('out_trade_no', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('wechat_transaction_id', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('prepay_id', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('paid_at', sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_membership_purchases_out_trade_no'), ['out_trade_no'])
        batch_op.create_index('ix_membership_purchases_status_created', ['status', 'created_at'], unique=False)
    with op.batch_alter_table('membership_closures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refund_wechat_fen', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('refund_paid_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('refund_paid_by', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_membership_closures_refund_paid_by_staff'), 'staff',
                                    ['refund_paid_by'], ['id'])


def downgrade():
    with op.batch_alter_table('membership_closures', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_membership_closures_refund_paid_by_staff'), type_='foreignkey')
        batch_op.drop_column('refund_paid_by')
        batch_op.drop_column('refund_paid_at')
        batch_op.drop_column('refund_wechat_fen')
    with op.batch_alter_table('membership_purchases', schema=None) as batch_op:
        batch_op.drop_index('ix_membership_purchases_status_created')
        batch_op.drop_constraint(batch_op.f('uq_membership_purchases_out_trade_no'), type_='unique')
        batch_op.drop_column('paid_at')
        batch_op.drop_column('prepay_id')
        batch_op.drop_column('wechat_transaction_id')
        batch_op.drop_column('out_trade_no')
        batch_op.drop_column('status')
        batch_op.drop_column('channel')
