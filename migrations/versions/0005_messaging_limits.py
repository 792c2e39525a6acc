"""messaging within WeChat's limits: customer-service windows by kind, mass sends with
their reports, each message's history

Revision ID: 0005_messaging_limits
Revises: 0004_safety
"""
import hashlib
import json

from alembic import op
import sqlalchemy as sa

revision = "0005_messaging_limits"
down_revision = "0004_safety"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('mass_sends',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('content_key', sa.String(length=40), nullable=True),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.Column('client_msg_id', sa.String(length=64), nullable=False),
    sa.Column('msg_id', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=True),
    sa.Column('reported_at', sa.DateTime(), nullable=True),
    sa.Column('report_status', sa.String(length=64), nullable=False),
    sa.Column('total_count', sa.Integer(), nullable=True),
    sa.Column('filter_count', sa.Integer(), nullable=True),
    sa.Column('sent_count', sa.Integer(), nullable=True),
    sa.Column('error_count', sa.Integer(), nullable=True),
    sa.Column('unexplained', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mass_sends'))
    )
    with op.batch_alter_table('mass_sends', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mass_sends_msg_id'), ['msg_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mass_sends_created_at'), ['created_at'], unique=False)

    # Windows by kind replace "last interaction": the old column opened a window on every
    # event. Open windows last 48 hours at most, so none is carried over.
    with op.batch_alter_table('wechat_contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('message_used', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('event_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('event_used', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('payment_at', sa.DateTime(), nullable=True))
        batch_op.drop_column('last_interaction_at')
    with op.batch_alter_table('wechat_contacts', schema=None) as batch_op:
        batch_op.alter_column('message_used', server_default=None)
        batch_op.alter_column('event_used', server_default=None)

    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('history', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('content_key', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('mass_send_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_outbox_messages_mass_send_id_mass_sends'), 'mass_sends',
                                    ['mass_send_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_outbox_messages_mass_send_id'), ['mass_send_id'], unique=False)
        batch_op.create_index('ix_outbox_messages_mass', ['channel', 'status', 'content_key'], unique=False)
        batch_op.create_index('ix_outbox_messages_remote_id', ['remote_id'], unique=False)
    op.execute("UPDATE outbox_messages SET history = '[]'")
    # mass messages still queued go out in batches by their words: give them their key
    conn = op.get_bind()
    queued = conn.execute(sa.text("SELECT id, payload FROM outbox_messages WHERE channel = 'mass' "
                                  "AND status IN ('pending', 'sending')")).all()
    for row_id, payload in queued:
        data = json.loads(payload) if isinstance(payload, str) else payload
        key = hashlib.sha1(str((data or {}).get("text", "")).encode()).hexdigest()
        conn.execute(sa.text("UPDATE outbox_messages SET content_key = :key, status = 'pending', claimed_by = NULL "
                             "WHERE id = :id"), {"key": key, "id": row_id})
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.alter_column('history', existing_type=sa.JSON(), nullable=False)


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_remote_id')
        batch_op.drop_index('ix_outbox_messages_mass')
        batch_op.drop_index(batch_op.f('ix_outbox_messages_mass_send_id'))
        batch_op.drop_constraint(batch_op.f('fk_outbox_messages_mass_send_id_mass_sends'), type_='foreignkey')
        batch_op.drop_column('mass_send_id')
        batch_op.drop_column('content_key')
        batch_op.drop_column('history')
    with op.batch_alter_table('wechat_contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_interaction_at', sa.DateTime(), nullable=False,
                                      server_default=sa.text('CURRENT_TIMESTAMP')))
        batch_op.drop_column('payment_at')
        batch_op.drop_column('event_used')
        batch_op.drop_column('event_at')
        batch_op.drop_column('message_used')
        batch_op.drop_column('message_at')
    with op.batch_alter_table('mass_sends', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mass_sends_created_at'))
        batch_op.drop_index(batch_op.f('ix_mass_sends_msg_id'))
    op.drop_table('mass_sends')
