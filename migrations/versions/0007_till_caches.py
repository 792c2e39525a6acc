"""till caches (issue 11): one row whose token changes with every write to tokens, staff,
stores, tiers and rules, so workers cache those and check one token per request

Revision ID: 0007_till_caches
Revises: 0006_rules_and_till
"""
import uuid

from alembic import op
import sqlalchemy as sa

revision = "0007_till_caches"
down_revision = "0006_rules_and_till"
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        "reference_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(table, [{"id": 1, "token": uuid.uuid4().hex}])


def downgrade():
    op.drop_table("reference_revision")
