"""claims by the rules then, the wallet card's member fields (issue 12): rules' status changes
(with the versions' times they say which rules were in force at a moment), what was left of a
purchase when claimed, whether a wallet card has the member fields and what each member's
wallet card was last sent

Revision ID: 0016_claims_then
Revises: 0015_buyer_days
Create Date: 2026-11-30 09:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = "0016_claims_then"
down_revision = "0015_buyer_days"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rule_status_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['rules.id'], name=op.f('fk_rule_status_changes_rule_id_rules')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_status_changes'))
    )
    with op.batch_alter_table('rule_status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rule_status_changes_rule_id'), ['rule_id'], unique=False)
    # Rules made before this kept no status history: each is taken to have had its status
    # now since it was made (the best that can be known).
    op.execute("INSERT INTO rule_status_changes (rule_id, status, changed_at) "
               "SELECT id, status, created_at FROM rules")
    with op.batch_alter_table('purchase_claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('net_fen', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('wallet_cards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('member_fields', sa.Boolean(), server_default='0', nullable=False))
    with op.batch_alter_table('wallet_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('wallet_members', schema=None) as batch_op:
        batch_op.drop_column('sent')
    with op.batch_alter_table('wallet_cards', schema=None) as batch_op:
        batch_op.drop_column('member_fields')
    with op.batch_alter_table('purchase_claims', schema=None) as batch_op:
        batch_op.drop_column('net_fen')
    with op.batch_alter_table('rule_status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rule_status_changes_rule_id'))
    op.drop_table('rule_status_changes')
