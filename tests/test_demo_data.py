"""Issue 9, item 14: the demo's history runs through the tier rules, so each member's tier is
the one their rolling 12-month spend gives (higher only until the month end after a refund),
and each group account's totals are its members'."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from wxcrm.analytics.groups import group_figures
from wxcrm.benefits import tiers
from wxcrm.extensions import db
from wxcrm.members import service as members
from wxcrm.members.models import Member
from wxcrm.sales.queries import net_spend_by_member
from wxcrm.timeutil import business_date, utcnow


def rank(tier) -> int:
    return tier.rank if tier is not None else -1


def test_the_demo_tiers_follow_spend_and_the_groups_add_up(app, settings):
    assert app.test_cli_runner().invoke(args=["wxcrm", "seed-demo", "--members", "150", "--days", "90"]).exit_code == 0
    today = business_date(settings.tz)
    ladder = members.tiers_by_rank(db.session)
    everyone = list(db.session.scalars(select(Member).order_by(Member.id)))
    raised = 0
    for member in everyone:
        reached = tiers.qualified_tier(db.session, member, today=today, tiers=ladder)
        assert rank(member.tier) >= rank(reached.best), member.id      # up at once, never missed
        raised += rank(member.tier) > rank(ladder[0])
        if member.group_id:
            assert rank(member.tier) >= rank(reached.group)
    assert raised, "some demo members earned a higher tier"

    # Were this month over today, every tier would be exactly the one the spend gives.
    for member in everyone:
        tiers.review_month_end(db.session, member, month_end=today, at=utcnow() + timedelta(days=1), tz=settings.tz)
        reached = tiers.qualified_tier(db.session, member, today=today, tiers=ladder)
        assert member.tier_id == reached.best.id, member.id
    db.session.rollback()

    for row in group_figures(db.session, today):
        cards = [m.id for m in everyone if m.group_id == row.group.id]
        assert row.members == len(cards)
        assert row.spend_12m_fen == sum(net_spend_by_member(db.session, cards, today=today).values())
        assert row.spend_12m_fen == tiers.group_spend(db.session, row.group.id, today=today)
        assert rank(row.tier) == rank(tiers.tier_for_spend(ladder, row.spend_12m_fen))
    assert ledger_audit_is_clean()


def ledger_audit_is_clean() -> bool:
    from wxcrm.ledger import service
    return service.audit(db.session) == []
