"""lifecycle jobs, greetings, segments and campaigns (issue 15): job runs, greeting
templates, RFM thresholds, segments, campaigns and their members

Revision ID: 0011_campaigns
Revises: 0010_stored_value
"""
from alembic import op
import sqlalchemy as sa

revision = "0011_campaigns"
down_revision = "0010_stored_value"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job", sa.String(40), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("started_by", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(500), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_job_runs_job_date", "job_runs", ["job", "business_date"])
    op.create_index("ix_job_runs_started_at", "job_runs", ["started_at"])
    op.create_table(
        "greetings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("name_en", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("send_time", sa.String(5), nullable=False),
        sa.Column("month", sa.Integer(), nullable=True),
        sa.Column("day", sa.Integer(), nullable=True),
        sa.Column("coupon_template_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "rfm_thresholds",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("staff.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("segment_id", sa.Integer(), sa.ForeignKey("segments.id"), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("start_at", sa.DateTime(), nullable=False),
        sa.Column("control_pct", sa.Integer(), nullable=False),
        sa.Column("coupon_template_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("fed_through", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("staff.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_campaigns_status_start", "campaigns", ["status", "start_at"])
    op.create_table(
        "campaign_members",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("control", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("campaign_id", "member_id"),
    )


def downgrade():
    op.drop_table("campaign_members")
    op.drop_index("ix_campaigns_status_start", table_name="campaigns")
    op.drop_table("campaigns")
    op.drop_table("segments")
    op.drop_table("rfm_thresholds")
    op.drop_table("greetings")
    op.drop_index("ix_job_runs_started_at", table_name="job_runs")
    op.drop_index("ix_job_runs_job_date", table_name="job_runs")
    op.drop_table("job_runs")
