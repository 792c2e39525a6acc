"""Segments and campaigns: a filter's size and reach, queuing set-based with a control
group, nobody twice, pause and resume, four mass sends a member a month across
campaigns, consent and opt-out, quiet hours, and the report's uplift."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from wxcrm.campaigns import consent, segments
from wxcrm.campaigns import service as campaigns
from wxcrm.campaigns.models import CampaignMember
from wxcrm.config import settings_for
from wxcrm.extensions import db
from wxcrm.jobs.outbox import drain
from wxcrm.messages.massquota import MASS_PER_MONTH
from wxcrm.messages.models import MassSendCount, OutboxMessage
from wxcrm.sales.models import Transaction

NOW = datetime(2026, 6, 10, 3, 0)      # 11:00 in Shanghai
TODAY = date(2026, 6, 10)


def buy(member, day: date, fen: int, store) -> None:
    db.session.add(Transaction(kind="purchase", store_id=store.id, member_id=member.id, total_fen=fen,
                               payable_fen=fen, receipt={}, business_date=day, created_at=NOW))
    db.session.commit()


def person(make, followed: bool = False, **fields):
    member = make.member(**fields)
    member.followed = followed
    db.session.commit()
    return member


def followers(make, n: int, prefix: str = "o-c", **fields):
    return [person(make, openid=f"{prefix}{i}", followed=True, **fields) for i in range(n)]


def new_campaign(settings, filters, *, name="夏季新品", text="夏季新品上市，会员双倍积分", control=0, purpose="campaign"):
    segment = campaigns.save_segment(db.session, name=name, filters=filters)
    c = campaigns.create_campaign(db.session, settings, name=name, segment_id=segment.id, text=text, purpose=purpose,
                                  control_pct=control, now=NOW)
    db.session.commit()
    return c


def test_a_segment_of_profile_and_behaviour_fields_shows_its_size_and_reach(app, make):
    store = make.store()
    make.tier("normal", 1)
    gold = make.tier("gold", 2)
    big = person(make, openid="o-big", followed=True, tier_code="gold", gender="female")
    small = person(make, openid="o-small", gender="female")
    person(make, marketing_consent=False, gender="female", phone=None)
    buy(big, TODAY - timedelta(days=3), 300_000, store)
    buy(small, TODAY - timedelta(days=200), 5_000, store)
    assert segments.size(db.session, [{"field": "gender", "op": "in", "value": ["female"]}], TODAY) == 3
    spenders = [{"field": "monetary_fen", "op": ">=", "value": 100_000, "window_days": 30}]
    assert segments.size(db.session, spenders, TODAY) == 1
    assert segments.size(db.session, [{"field": "tier", "op": "in", "value": [gold.code]}], TODAY) == 1
    assert segments.size(db.session, [{"field": "rfm_class", "op": "in", "value": ["lapsing"]}], TODAY) == 1
    assert segments.size(db.session, [{"field": "recency_days", "op": "<=", "value": 7}], TODAY) == 1
    reach = segments.reach(db.session, [{"field": "gender", "op": "in", "value": ["female"]}], TODAY, NOW)
    assert reach == {"wechat": 1, "sms": 1, "no_consent": 1, "mass_used_no_phone": 0, "no_wechat_no_phone": 0,
                     "total": 3, "reachable": 2}
    assert [m.id for m in segments.sample(db.session, spenders, TODAY)] == [big.id]
    csv = segments.export_csv(db.session, spenders, TODAY)
    assert big.card_no in csv and "139" not in csv      # no phone numbers leave in an export


def test_conditions_over_several_windows_read_each_window_alone(app, make):
    """One pass over the sales serves every window: each condition still sees its own."""
    store = make.store()
    recent = person(make, gender="male")        # 60,000 in the last 30 days
    older = person(make, gender="male")         # 60,000 200 days ago, nothing since
    both = person(make, gender="male")          # 30,000 now and 30,000 200 days ago, 10,000 of it refunded
    never = person(make, gender="male")         # never bought
    buy(recent, TODAY - timedelta(days=5), 60_000, store)
    buy(older, TODAY - timedelta(days=200), 60_000, store)
    buy(both, TODAY - timedelta(days=5), 30_000, store)
    buy(both, TODAY - timedelta(days=200), 30_000, store)
    db.session.add(Transaction(kind="refund", store_id=store.id, member_id=both.id, total_fen=10_000,
                               payable_fen=10_000, receipt={}, business_date=TODAY - timedelta(days=2), created_at=NOW))
    db.session.commit()

    def ids(*filters):
        return set(db.session.scalars(segments.member_ids_query(db.session, list(filters), TODAY)))
    month = {"field": "monetary_fen", "op": ">=", "value": 50_000, "window_days": 30}
    year = {"field": "monetary_fen", "op": ">=", "value": 55_000, "window_days": 365}
    assert ids(month) == {recent.id}
    assert ids(year) == {recent.id, older.id}
    assert ids({**year, "op": "<=", "value": 50_000}) == {both.id, never.id}       # 50,000 net of the refund
    assert ids({"field": "frequency", "op": ">=", "value": 1, "window_days": 30}) == {recent.id, both.id}
    assert ids({"field": "frequency", "op": "<=", "value": 0, "window_days": 30}) == {older.id, never.id}
    assert ids({"field": "monetary_fen", "op": "<=", "value": 25_000, "window_days": 30},
               {"field": "monetary_fen", "op": ">=", "value": 40_000, "window_days": 365}) == {older.id, both.id}
    assert ids({"field": "recency_days", "op": ">=", "value": 100}, year) == {older.id}
    assert ids({"field": "recency_days", "op": ">=", "value": 100}) == {older.id, never.id}
    assert ids({"field": "rfm_class", "op": "in", "value": ["lapsing"]}, month) == set()
    assert ids({"field": "rfm_class", "op": "in", "value": ["lapsing"]}) == {older.id}


def test_a_bad_filter_is_refused_with_a_code(app):
    import pytest

    from wxcrm.errors import DomainError
    for bad in ([{"field": "nope"}], [{"field": "gender", "op": ">=", "value": 1}],
                [{"field": "frequency", "op": ">=", "value": "x"}], "gender"):
        with pytest.raises(DomainError):
            segments.validate(bad)


def test_a_campaign_queues_once_keeps_a_control_group_and_pauses(app, make, settings, standin):
    settings = settings_for(app)              # pointed at the stand-in
    people = followers(make, 60)
    standin.follow(*[m.openid for m in people])
    person(make, openid="o-nc", followed=True, marketing_consent=False)
    c = new_campaign(settings, [{"field": "followed", "op": "==", "value": True}], control=20)
    counts = campaigns.send_now(db.session, settings, c.id, now=NOW)
    db.session.commit()
    assert counts["target"] + counts["control"] == 60            # the member without consent is not chosen
    assert 3 <= counts["control"] <= 25 and counts["mass"] == counts["target"]
    campaign = campaigns.get_campaign(db.session, c.id)
    assert campaigns.choose_members(db.session, settings, campaign, NOW) == {"target": counts["target"],
                                                                            "control": counts["control"]}
    campaign.status, campaign.fed_through = "sending", 0             # as if a feed had died half-way
    assert campaigns.feed(db.session, settings, campaign, NOW) == counts["target"]
    db.session.commit()
    assert campaign.counts["skipped"] == counts["target"]             # nobody twice
    rows = db.session.scalar(select(func.count()).where(OutboxMessage.dedup_key.like(f"campaign:{c.id}:%")))
    assert rows == counts["target"]
    control = set(db.session.scalars(select(CampaignMember.member_id).where(CampaignMember.control.is_(True))))
    assert not control & set(db.session.scalars(select(OutboxMessage.member_id)))
    assert campaigns.pause(db.session, c.id) == counts["target"]
    db.session.commit()
    assert drain(db.session, settings, now=NOW + timedelta(minutes=20)).sent == 0
    campaigns.resume(db.session, c.id, now=NOW + timedelta(minutes=20))
    db.session.commit()
    report = drain(db.session, settings, now=NOW + timedelta(minutes=21))
    assert report.sent == counts["target"] and report.mass_calls == 1


def test_mass_sends_never_exceed_four_a_member_a_month_across_campaigns(app, make, settings, standin):
    settings = settings_for(app)              # pointed at the stand-in
    people = followers(make, 6, prefix="o-m", phone=None)
    standin.follow(*[m.openid for m in people])
    everyone = [{"field": "followed", "op": "==", "value": True}]
    for i in range(6):
        c = new_campaign(settings, everyone, name=f"第{i + 1}期", text=f"第{i + 1}期活动", purpose="campaign_wechat")
        campaigns.send_now(db.session, settings, c.id, now=NOW + timedelta(days=i))
        db.session.commit()
        drain(db.session, settings, now=NOW + timedelta(days=i, minutes=30))
    per_member = db.session.execute(select(OutboxMessage.member_id, func.count()).where(
        OutboxMessage.channel == "mass", OutboxMessage.status == "sent").group_by(OutboxMessage.member_id)).all()
    assert per_member and all(n == MASS_PER_MONTH for _, n in per_member)
    assert max(db.session.scalars(select(MassSendCount.sent))) == MASS_PER_MONTH
    for user in (standin.state.users[m.openid] for m in people):
        assert max(user.mass_received.values()) <= MASS_PER_MONTH    # what WeChat itself counted
    # the fifth and sixth could not go: parked with the reason, never sent
    parked = db.session.scalars(select(OutboxMessage.reason).where(OutboxMessage.status == "parked")).all()
    assert len(parked) == 12 and all("4 mass messages" in r for r in parked)


def test_the_reach_before_sending_says_why_members_cannot_be_reached(app, make, settings):
    person(make, openid="o-r1", followed=True)
    person(make, openid="o-r2", followed=False, phone=None)
    person(make, followed=False)
    reach = segments.reach(db.session, [], TODAY, NOW)
    assert (reach["wechat"], reach["sms"], reach["no_wechat_no_phone"]) == (1, 1, 1)


def test_an_opt_out_reply_stops_marketing_but_not_service_notices(app, make, settings):
    member = person(make, openid="o-td", followed=True)
    c = new_campaign(settings, [])
    campaigns.send_now(db.session, settings, c.id, now=NOW)
    db.session.commit()
    assert consent.opt_out_by_reply(db.session, text="TD", openid="o-td", at=NOW) == member
    db.session.commit()
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.member_id == member.id))
    assert row.status == "parked" and "not agreed to marketing" in row.reason
    assert not member.marketing_consent
    assert consent.opt_out_by_reply(db.session, text="你好", openid="o-td", at=NOW) is None
    sms_member = person(make, phone="13911112222")
    assert consent.opt_out_by_reply(db.session, text="T", phone="13911112222", at=NOW) == sms_member
    from wxcrm.messages import outbox
    notice = outbox.enqueue(db.session, settings, purpose="points_changed", member=member, text="积分变动",
                            fields={"store": "一店", "change": "+5", "balance": "5"})
    assert notice.status == "pending"                        # service notices still go


def test_a_wechat_reply_of_td_opts_out(app, make, standin):
    member = person(make, openid="o-wx-td", followed=True)
    standin.follow("o-wx-td")
    standin.push("text", "o-wx-td", text="退订")
    db.session.expire_all()
    assert db.session.get(type(member), member.id).marketing_consent is False


def test_marketing_waits_out_the_quiet_hours(app, make, configure):
    settings = configure(QUIET_HOURS="21:00-08:00")
    person(make, openid="o-q", followed=True)
    c = new_campaign(settings, [])
    night = datetime(2026, 6, 10, 14, 30)                   # 22:30 in Shanghai
    campaigns.send_now(db.session, settings, c.id, now=night)
    db.session.commit()
    row = db.session.scalar(select(OutboxMessage))
    assert row.next_attempt_at == datetime(2026, 6, 11, 0, 0)    # 08:00 in Shanghai
    assert drain(db.session, settings, now=datetime(2026, 6, 10, 23, 0)).sent == 0


def test_the_report_compares_recipients_with_the_control_group(app, make, settings, standin):
    settings = settings_for(app)              # pointed at the stand-in
    store = make.store()
    people = followers(make, 200, prefix="o-rep")
    standin.follow(*[m.openid for m in people])
    c = new_campaign(settings, [], control=50)
    campaigns.send_now(db.session, settings, c.id, now=NOW)
    db.session.commit()
    drain(db.session, settings, now=NOW + timedelta(minutes=20))
    control = set(db.session.scalars(select(CampaignMember.member_id).where(CampaignMember.control.is_(True))))
    for m in people:
        if m.id not in control:
            buy(m, TODAY + timedelta(days=1), 10_000, store)
    data = campaigns.report(db.session, settings, c.id, now=NOW + timedelta(days=3))
    assert data["groups"]["control"]["visits"] == 0 and data["groups"]["target"]["buyers"] > 0
    uplift = data["uplift"]["spend_per_member_fen"]
    assert uplift["difference"] == 10_000 and uplift["ci95_low"] <= 10_000 <= uplift["ci95_high"]
    assert data["delivery"]["sent"] == data["groups"]["target"]["members"]
    assert "uplift" in campaigns.report_csv(data)


def test_a_big_campaign_is_fed_to_the_outbox_in_batches(app, make, settings, monkeypatch):
    for i in range(30):
        person(make, openid=f"o-b{i}", followed=True)
    c = new_campaign(settings, [])
    counts = campaigns.send_now(db.session, settings, c.id, now=NOW, first_batch=10)
    db.session.commit()
    assert counts["queued"] == 10 and campaigns.get_campaign(db.session, c.id).status == "sending"
    monkeypatch.setattr(campaigns, "BATCH", 7)
    from wxcrm.jobs.daily import campaigns as campaigns_job
    assert campaigns_job(db.session, settings, TODAY, TODAY)["queued"] == 20
    campaign = campaigns.get_campaign(db.session, c.id)
    assert campaign.status == "done" and campaign.counts["queued"] == 30
    assert db.session.scalar(select(func.count()).where(OutboxMessage.dedup_key.like(f"campaign:{c.id}:%"))) == 30


def test_an_sms_reply_of_t_reaches_the_api(app, make, admin_api):
    member = person(make, phone="13911113333")
    r = admin_api.post("/sms/replies", json={"phone": "+8613911113333", "text": " t "})
    assert r.status_code == 200 and r.get_json() == {"opted_out": True}
    db.session.expire_all()
    assert db.session.get(type(member), member.id).marketing_consent is False
    assert admin_api.post("/sms/replies", json={"phone": "13911113333", "text": "谢谢"}).get_json() == \
        {"opted_out": False}


def test_a_service_notice_goes_as_a_template_message_to_everyone_in_the_segment(app, make, standin):
    settings = settings_for(app)
    follower = person(make, openid="o-n1", followed=True, marketing_consent=False)
    standin.follow("o-n1")
    person(make, phone="13900005555", marketing_consent=False)
    import pytest

    from wxcrm.errors import DomainError
    with pytest.raises(DomainError):
        new_campaign(settings, [], text="门店营业时间调整：自下周一起每天九点开门，晚上十点关门，欢迎光临", purpose="service_notice")
    c = new_campaign(settings, [], text="静安店装修暂停营业三天", purpose="service_notice")
    counts = campaigns.send_now(db.session, settings, c.id, now=NOW)
    db.session.commit()
    assert (counts["template"], counts["sms"], counts["queued"]) == (1, 1, 2)   # no consent needed
    report = drain(db.session, settings, now=NOW)
    assert report.sent == 2
    [call] = standin.calls("/cgi-bin/message/template/send")
    assert call["body"]["touser"] == follower.openid and call["body"]["data"]["thing1"]["value"] == "静安店装修暂停营业三天"
