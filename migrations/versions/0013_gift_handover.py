"""gift hand-over (issue 14, item 5): the staff member who handed a gift coupon's item over

Revision ID: 0013_gift_handover
Revises: 0012_cards
Create Date: 2026-11-30 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0013_gift_handover"
down_revision = "0012_cards"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('used_staff_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_coupons_used_staff_id_staff'), 'staff', ['used_staff_id'], ['id'])


def downgrade():
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_coupons_used_staff_id_staff'), type_='foreignkey')
        batch_op.drop_column('used_staff_id')
