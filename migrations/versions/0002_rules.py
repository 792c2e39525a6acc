"""rule engine (rules, versions, limit counters)

Revision ID: 0002_rules
Revises: 0001_core
"""
from alembic import op
import sqlalchemy as sa

revision = "0002_rules"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["staff.id"], name=op.f("fk_rules_created_by_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rules")),
    )
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rules_event"), ["event"], unique=False)
    op.create_table(
        "rule_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["staff.id"], name=op.f("fk_rule_versions_created_by_staff")),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], name=op.f("fk_rule_versions_rule_id_rules")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_versions")),
        sa.UniqueConstraint("rule_id", "version", name=op.f("uq_rule_versions_rule_id_version")),
    )
    op.create_table(
        "rule_set_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_set_state")),
    )
    op.create_table(
        "rule_usage",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("period_key", sa.String(length=10), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_rule_usage_member_id_members")),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], name=op.f("fk_rule_usage_rule_id_rules")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_usage")),
        sa.UniqueConstraint("rule_id", "member_id", "period", "period_key",
                            name=op.f("uq_rule_usage_rule_id_member_id_period_period_key")),
    )
    with op.batch_alter_table("rule_usage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rule_usage_member_id"), ["member_id"], unique=False)
    op.create_table(
        "rule_budgets",
        sa.Column("rule_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("points_used", sa.BigInteger(), nullable=False),
        sa.Column("fen_used", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], name=op.f("fk_rule_budgets_rule_id_rules")),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_rule_budgets")),
    )
    op.create_table(
        "rule_event_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("effects", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_rule_event_runs_member_id_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_event_runs")),
        sa.UniqueConstraint("event", "business_date", "member_id",
                            name=op.f("uq_rule_event_runs_event_business_date_member_id")),
    )
    op.create_table(
        "rule_days_done",
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event", "business_date", name=op.f("pk_rule_days_done")),
    )


def downgrade():
    op.drop_table("rule_days_done")
    op.drop_table("rule_event_runs")
    op.drop_table("rule_budgets")
    with op.batch_alter_table("rule_usage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rule_usage_member_id"))
    op.drop_table("rule_usage")
    op.drop_table("rule_set_state")
    op.drop_table("rule_versions")
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rules_event"))
    op.drop_table("rules")
