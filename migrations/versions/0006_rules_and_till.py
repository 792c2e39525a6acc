"""rules and till (issue 9): the base earning rule, referral payouts, member history and
tier holds, offline sales' recorded_at

Revision ID: 0006_rules_and_till
Revises: 0005_messaging_limits

Data steps (both keep what a running shop already had):

* The base earning rule. Until now a purchase earned ``WXCRM_POINTS_PER_YUAN`` whenever no
  purchase rule was live, a fallback that the first live purchase rule silently switched
  off. The fallback is gone; a database without a live purchase rule (every new install)
  gets the base earning rule, live, at that rate (1 point per yuan unless the old
  setting was set).
* Referral payouts. A referral used to pay once per referred member (a ``referral`` row in
  ``rule_event_runs``); now each referral rule pays once per referred member. The members
  already paid for count as paid by every referral rule that exists now, so nobody is
  paid twice.
"""
import json
import os
import uuid
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

revision = "0006_rules_and_till"
down_revision = "0005_messaging_limits"
branch_labels = None
depends_on = None

BASE_RULE = {"name": "消费积分", "name_en": "Points on purchases", "event": "purchase", "priority": 0,
             "exclusive_group": "base_earn",
             "description": "Every purchase earns points on what is paid, rounded down.",
             "actions": [{"type": "earn_points", "rate": 1, "per_yuan": 1}]}


def upgrade():
    op.create_table(
        "referral_payouts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("referred_id", sa.Integer(), nullable=False),
        sa.Column("referrer_id", sa.Integer(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["referred_id"], ["members.id"], name=op.f("fk_referral_payouts_referred_id_members")),
        sa.ForeignKeyConstraint(["referrer_id"], ["members.id"], name=op.f("fk_referral_payouts_referrer_id_members")),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], name=op.f("fk_referral_payouts_rule_id_rules")),
        sa.ForeignKeyConstraint(["transaction_id"], ["transactions.id"],
                                name=op.f("fk_referral_payouts_transaction_id_transactions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_payouts")),
        sa.UniqueConstraint("rule_id", "referred_id", name=op.f("uq_referral_payouts_rule_id_referred_id")),
    )
    with op.batch_alter_table("referral_payouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referral_payouts_referred_id"), ["referred_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_referral_payouts_referrer_id"), ["referrer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_referral_payouts_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "member_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=24), nullable=False),
        sa.Column("old_value", sa.String(length=120), nullable=False),
        sa.Column("new_value", sa.String(length=120), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_member_changes_member_id_members")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_member_changes_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_changes")),
    )
    with op.batch_alter_table("member_changes", schema=None) as batch_op:
        batch_op.create_index("ix_member_changes_member_id_id", ["member_id", "id"], unique=False)

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier_until", sa.Date(), nullable=True))
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recorded_at", sa.DateTime(), nullable=True))

    _base_earning_rule()
    _referrals_already_paid()


def _base_earning_rule():
    conn = op.get_bind()
    live = conn.execute(sa.text("SELECT COUNT(*) FROM rules WHERE status = 'active' AND event = 'purchase'")).scalar()
    if live:
        return
    rate = int(os.environ.get("WXCRM_POINTS_PER_YUAN") or 1)
    definition = json.loads(json.dumps(BASE_RULE))
    definition["actions"][0]["rate"] = max(rate, 1)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    conn.execute(sa.text("INSERT INTO rules (name, event, status, priority, current_version, created_at, updated_at) "
                         "VALUES (:name, 'purchase', 'active', 0, 1, :now, :now)"),
                 {"name": definition["name"], "now": now})
    rule_id = conn.execute(sa.text("SELECT MAX(id) FROM rules")).scalar()
    conn.execute(sa.text("INSERT INTO rule_versions (rule_id, version, definition, created_at) "
                         "VALUES (:rule_id, 1, :definition, :now)"),
                 {"rule_id": rule_id, "definition": json.dumps(definition, ensure_ascii=False), "now": now})
    if conn.execute(sa.text("SELECT COUNT(*) FROM rule_set_state")).scalar():
        conn.execute(sa.text("UPDATE rule_set_state SET revision = revision + 1, token = :token"),
                     {"token": uuid.uuid4().hex})
    else:
        conn.execute(sa.text("INSERT INTO rule_set_state (id, revision, token) VALUES (1, 1, :token)"),
                     {"token": uuid.uuid4().hex})


def _referrals_already_paid():
    op.get_bind().execute(sa.text(
        "INSERT INTO referral_payouts (rule_id, referred_id, referrer_id, rule_version, transaction_id, points, fen, "
        "created_at) "
        "SELECT r.id, m.id, m.referrer_id, r.current_version, NULL, 0, 0, e.created_at "
        "FROM rule_event_runs e JOIN members m ON m.id = e.member_id CROSS JOIN rules r "
        "WHERE e.event = 'referral' AND r.event = 'referral' AND m.referrer_id IS NOT NULL"))


def downgrade():
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_column("recorded_at")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("tier_until")
    with op.batch_alter_table("member_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_member_changes_member_id_id")
    op.drop_table("member_changes")
    with op.batch_alter_table("referral_payouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_payouts_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_referral_payouts_referrer_id"))
        batch_op.drop_index(batch_op.f("ix_referral_payouts_referred_id"))
    op.drop_table("referral_payouts")
