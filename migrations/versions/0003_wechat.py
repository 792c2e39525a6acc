"""wechat (events, outbox, token store, scheduler lease)

Revision ID: 0003_wechat
Revises: 0002_rules
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0003_wechat"
down_revision = "0002_rules"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
