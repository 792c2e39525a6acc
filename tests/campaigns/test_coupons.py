"""Greetings and campaigns with a coupon: the birthday greeting with its coupon, a holiday
greeting with a coupon, a campaign with a coupon whose stock runs out part-way; each member
gets one per greeting or campaign (whatever reruns), within the stock and the per-member
limit, and the message names the coupon only to the members who got it."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from tests.campaigns.test_jobs import at_local, enable
from wxcrm.campaigns import service as campaigns
from wxcrm.config import settings_for
from wxcrm.coupons import service as coupon_service
from wxcrm.coupons.bulk import issue_to_members
from wxcrm.coupons.codes import normalise
from wxcrm.coupons.models import Coupon, CouponTemplate
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.jobs.registry import BY_ID
from wxcrm.jobs.runner import run_day, run_due
from wxcrm.members.models import Member
from wxcrm.messages.models import OutboxMessage

NOW = datetime(2026, 6, 10, 3, 0)      # 11:00 in Shanghai


def coupon_template(code="BDAY20", title="生日20元券", **extra) -> CouponTemplate:
    tpl = coupon_service.save_template(db.session, {"code": code, "type": "cash", "title_zh": title,
                                                    "title_en": "20 yuan", "face_value_fen": 2000,
                                                    "valid_days": 30} | extra)
    db.session.commit()
    return tpl


def rows(purpose: str | None = None) -> list[OutboxMessage]:
    db.session.expire_all()
    stmt = select(OutboxMessage).order_by(OutboxMessage.member_id)
    return list(db.session.scalars(stmt.where(OutboxMessage.purpose == purpose) if purpose else stmt))


def coupons_of(ref_prefix: str) -> list[Coupon]:
    db.session.expire_all()
    return list(db.session.scalars(select(Coupon).where(Coupon.source_ref.like(ref_prefix + "%"))
                                   .order_by(Coupon.member_id)))


def follower(make, openid: str, **fields) -> Member:
    member = make.member(openid=openid, **fields)
    member.followed = True
    db.session.commit()
    return member


def test_the_birthday_greeting_carries_its_coupon_once_a_year(app, make, settings, frozen_now):
    tpl = coupon_template()
    enable("birthday", coupon_template_id=tpl.id)
    member = follower(make, "o-bd", birthday=date(1990, 3, 14))
    sms_only = make.member(birthday=date(1991, 3, 14))
    make.member(birthday=date(1990, 3, 20))
    frozen_now(at_local(date(2026, 3, 11), 2))
    [run] = run_due(db.session, settings, BY_ID["birthday"])
    assert run.counts["greeted"] == 2 and run.counts["coupons"] == 2
    issued = coupons_of("birthday:2026:m")
    assert [c.member_id for c in issued] == [member.id, sms_only.id]
    assert all(normalise(c.code) == c.code and c.status == "available" and c.channel == "campaign" for c in issued)
    assert issued[0].valid_until == date(2026, 4, 9)                 # 30 days from the day it was issued
    greeting, sms = rows("birthday")
    assert "生日20元券" in greeting.payload["source_text"] and "¥20" in greeting.payload["source_text"]
    assert sms.channel == "sms" and "生日20元券" in sms.payload["params"]["text"]
    assert len(sms.payload["params"]["text"]) <= 35
    db.session.expire_all()
    assert db.session.get(Member, member.id).coupons_held == 1
    assert db.session.get(CouponTemplate, tpl.id).issued_count == 2
    # the job again (a rerun, a second scheduler), and the next days: nothing more this year
    frozen_now(at_local(date(2026, 3, 14), 2))
    run_day(db.session, settings, BY_ID["birthday"], date(2026, 3, 11), today=date(2026, 3, 14), trigger="cli-day")
    run_due(db.session, settings, BY_ID["birthday"])
    assert len(coupons_of("birthday:2026:m")) == 2 and len(rows("birthday")) == 2
    frozen_now(at_local(date(2027, 3, 11), 2))
    run_due(db.session, settings, BY_ID["birthday"])
    assert len(coupons_of("birthday:2027:m")) == 2


def test_a_holiday_greeting_with_a_coupon(app, make, settings, frozen_now):
    tpl = coupon_template("MOON", "中秋月饼兑换券", type="gift", item_sku="MOONCAKE", face_value_fen=0)
    enable("mid_autumn", coupon_template_id=tpl.id)
    a = follower(make, "o-ma")
    b = follower(make, "o-mb")
    make.member(openid="o-mc", marketing_consent=False)
    frozen_now(at_local(date(2026, 9, 25), 2))
    [run] = run_due(db.session, settings, BY_ID["holidays"])
    assert run.counts["coupons"] == 2 and run.counts["greetings"] == ["mid_autumn"]
    assert [c.member_id for c in coupons_of("holiday:mid_autumn:2026:m")] == [a.id, b.id]
    texts = {r.member_id: r.payload["source_text"] for r in rows("holiday")}
    assert set(texts) == {a.id, b.id}
    assert all("中秋月饼兑换券" in t and "兑换 MOONCAKE" in t for t in texts.values())


def test_a_campaign_with_a_coupon_whose_stock_runs_out_mid_campaign(app, make, monkeypatch):
    settings = settings_for(app)
    tpl = coupon_template("SUMMER", "夏日10元券", face_value_fen=1000, stock_total=5)
    people = [follower(make, f"o-s{i}") for i in range(8)]
    segment = campaigns.save_segment(db.session, name="关注者", filters=[{"field": "followed", "op": "==",
                                                                          "value": True}])
    c = campaigns.create_campaign(db.session, settings, name="夏日", segment_id=segment.id, text="夏季新品上市",
                                  coupon_template_id=tpl.id, now=NOW)
    db.session.commit()
    campaigns.send_now(db.session, settings, c.id, now=NOW, first_batch=3)     # 3 now, the rest in batches
    db.session.commit()
    while campaigns.get_campaign(db.session, c.id).status == "sending":
        campaigns.feed(db.session, settings, campaigns.get_campaign(db.session, c.id), NOW, limit=3)
        db.session.commit()
    campaign = campaigns.get_campaign(db.session, c.id)
    assert campaign.counts["coupons"] == 5 and campaign.counts["coupons_out_of_stock"] == 3, campaign.counts
    holders = [cp.member_id for cp in coupons_of(f"campaign:{c.id}:m")]
    assert holders == [m.id for m in people[:5]]                     # the first five in member order
    texts = {r.member_id: r.payload["source_text"] for r in rows("campaign")}
    assert len(texts) == 8
    assert all(("夏日10元券" in texts[m.id]) == (m.id in holders) for m in people)
    assert texts[people[-1].id] == "夏季新品上市"
    db.session.expire_all()
    assert db.session.get(CouponTemplate, tpl.id).issued_count == 5
    # a feed that died half-way and runs again gives no coupon twice and no message twice
    campaign.status, campaign.fed_through = "sending", 0
    campaigns.feed(db.session, settings, campaign, NOW, limit=None)
    db.session.commit()
    assert len(coupons_of(f"campaign:{c.id}:m")) == 5 and len(rows("campaign")) == 8
    report = campaigns.report(db.session, settings, c.id, now=NOW)
    assert report["coupons"] | {"template_id": 0} == {"template_id": 0, "issued": 5, "redeemed": 0, "without": 3}
    db.session.execute(Coupon.__table__.update().where(Coupon.member_id == people[0].id).values(status="used"))
    db.session.commit()
    assert campaigns.report(db.session, settings, c.id, now=NOW)["coupons"]["redeemed"] == 1
    assert "coupons issued" in campaigns.report_csv(campaigns.report(db.session, settings, c.id, now=NOW))


def test_the_bulk_issue_keeps_the_per_member_limit_and_skips_closed_members(app, make, settings):
    tpl = coupon_template("ONCE", "限领一张", per_member_limit=1)
    keeps, fresh, closed = make.member(), make.member(), make.member()
    coupon_service.issue_coupon(db.session, settings, template_code="ONCE", member=keeps, channel="manual",
                                source_ref="manual:first", clock=_clock(), notify=False)
    closed.status = "closed"
    db.session.commit()
    result = issue_to_members(db.session, settings, template_id=tpl.id, member_ids=[keeps.id, fresh.id, closed.id],
                              ref="test:once", now=NOW)
    db.session.commit()
    assert (result.issued, result.over_limit, result.not_active, result.holders) == (1, 1, 1, [fresh.id])
    again = issue_to_members(db.session, settings, template_id=tpl.id, member_ids=[fresh.id], ref="test:once", now=NOW)
    assert (again.issued, again.holders) == (0, [fresh.id])
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 2


def test_an_inactive_or_unknown_coupon_cannot_be_attached_and_a_notice_carries_none(app, make, settings):
    tpl = coupon_template("OFF", "停用券", active=False)
    segment = campaigns.save_segment(db.session, name="全部", filters=[])
    with pytest.raises(DomainError) as e:
        campaigns.create_campaign(db.session, settings, name="x", segment_id=segment.id, text="上新",
                                  coupon_template_id=tpl.id, now=NOW)
    assert e.value.code == "coupon_template_inactive"
    with pytest.raises(DomainError) as e:
        campaigns.create_campaign(db.session, settings, name="x", segment_id=segment.id, text="上新",
                                  coupon_template_id=9999, now=NOW)
    assert e.value.code == "coupon_template_not_found"
    on = coupon_template()
    with pytest.raises(DomainError) as e:
        campaigns.create_campaign(db.session, settings, name="x", segment_id=segment.id, text="营业时间调整",
                                  purpose="service_notice", coupon_template_id=on.id, now=NOW)
    assert e.value.code == "notice_coupon"


def _clock():
    from zoneinfo import ZoneInfo

    from wxcrm.timeutil import Clock
    return Clock.at(NOW, ZoneInfo("Asia/Shanghai"))
