"""The marketing pages in the console: jobs, greetings, segments, campaigns."""
from __future__ import annotations

import json

from sqlalchemy import select

from wxcrm.campaigns.models import Campaign, Greeting, Segment
from wxcrm.extensions import db
from wxcrm.jobs.models import JobRun


def login(client, make, role="marketer"):
    person = make.staff(role)
    client.post("/login", data={"username": person.username, "password": "password123"})
    return person


def test_the_jobs_page_lists_jobs_and_runs_one_by_hand(client, make):
    login(client, make)
    client.get("/console/greetings")                                  # the ready greetings
    national = db.session.scalar(select(Greeting).where(Greeting.code == "national_day"))
    national.enabled = True
    db.session.commit()
    member = make.member(openid="o-nd")
    member.followed = True
    db.session.commit()
    page = client.get("/console/jobs")
    assert page.status_code == 200 and "birthday" in page.text and "outbox-dispatch" not in page.text
    r = client.post("/console/jobs/holidays/run", data={"date": "2026-10-01"})
    assert r.status_code == 302
    run = db.session.scalar(select(JobRun))
    assert (run.job, run.trigger, run.status) == ("holidays", "console-day", "done")
    runs = client.get("/console/jobs?job=holidays").text
    assert "holidays" in runs and "国庆节" in runs and "national_day" not in runs     # the greeting by its name
    assert "National Day" in client.get("/console/jobs?job=holidays&lang=en").text
    client.post("/console/jobs/nope/run")
    assert db.session.scalar(select(JobRun).where(JobRun.job == "nope")) is None


def test_a_marketer_enables_and_edits_a_greeting(client, make):
    login(client, make)
    page = client.get("/console/greetings")
    assert page.status_code == 200 and "中秋" in page.text
    greeting = db.session.scalar(select(Greeting).where(Greeting.code == "mid_autumn"))
    from wxcrm.coupons.service import save_template
    tpl = save_template(db.session, {"code": "MOON", "type": "cash", "title_zh": "中秋券", "face_value_fen": 500,
                                     "valid_days": 10, "stock_total": 100})
    db.session.commit()
    assert "中秋券 · 剩余 100 张" in client.get("/console/greetings").text      # an attachable coupon
    client.post(f"/console/greetings/{greeting.id}", data={"text": "中秋快乐！", "enabled": "yes", "send_time": "09:30",
                                                            "coupon_template_id": str(tpl.id)})
    db.session.expire_all()
    greeting = db.session.get(Greeting, greeting.id)
    assert (greeting.text, greeting.enabled, greeting.send_time) == ("中秋快乐！", True, "09:30")
    assert greeting.coupon_template_id == tpl.id
    client.post(f"/console/greetings/{greeting.id}", data={"text": "中秋快乐！", "enabled": "yes", "send_time": "09:30",
                                                            "coupon_template_id": ""})
    db.session.expire_all()
    assert db.session.get(Greeting, greeting.id).coupon_template_id is None
    client.post("/console/greetings/new", data={"code": "anniversary", "name": "店庆", "month": "5", "day": "20",
                                                "text": "店庆快乐"})
    assert db.session.scalar(select(Greeting).where(Greeting.code == "anniversary")).month == 5


def test_the_segment_builder_previews_saves_and_exports(client, make):
    login(client, make)
    make.member(openid="o-seg", gender="female")
    rfm_page = client.get("/console/segments/new?rfm=lapsing")
    assert rfm_page.status_code == 200 and "data-testid=\"rfm-thresholds\" open" in rfm_page.text      # shown at once
    filters = [{"field": "gender", "op": "in", "value": ["female"]}]
    r = client.post("/console/segments/preview", json={"filters": filters})
    assert r.status_code == 200 and r.get_json()["size"] == 1
    bad = client.post("/console/segments/preview", json={"filters": [{"field": "nope"}]})
    assert bad.status_code == 422 and bad.get_json()["error"]
    client.post("/console/segments/save", data={"name": "女性会员", "filters": json.dumps(filters)})
    segment = db.session.scalar(select(Segment))
    assert segment.filters == filters
    assert "女性会员" in client.get("/console/segments").text
    csv = client.get(f"/console/segments/{segment.id}/export.csv")
    assert csv.status_code == 200 and "card_no" in csv.text
    client.post("/console/segments/thresholds", data={"lapsing_days": "120"})
    from wxcrm.campaigns import rfm
    assert rfm.thresholds(db.session)["lapsing_days"] == 120


def test_a_campaign_is_created_sent_paused_and_reported(client, make):
    login(client, make)
    make.member(openid="o-cam")
    client.post("/console/segments/save", data={"name": "全部", "filters": "[]"})
    segment = db.session.scalar(select(Segment))
    r = client.post("/console/campaigns/new", data={"name": "夏促", "segment_id": segment.id, "text": "夏季促销",
                                                    "purpose": "campaign", "control_pct": "0", "when": "draft"})
    campaign = db.session.scalar(select(Campaign))
    assert r.status_code == 302 and campaign.status == "draft"
    page = client.get(f"/console/campaigns/{campaign.id}")
    assert page.status_code == 200 and "campaign-reach" in page.text
    client.post(f"/console/campaigns/{campaign.id}/send")
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == "done"      # all queued
    client.post(f"/console/campaigns/{campaign.id}/pause")
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == "paused"
    page = client.get(f"/console/campaigns/{campaign.id}")
    assert "campaign-report" in page.text
    assert client.get(f"/console/campaigns/{campaign.id}/report.csv").status_code == 200
    assert client.get("/console/campaigns").status_code == 200


def test_a_campaign_with_a_coupon_from_the_form(client, make):
    from wxcrm.coupons.service import save_template
    login(client, make)
    make.member(openid="o-cc")
    tpl = save_template(db.session, {"code": "C5", "type": "cash", "title_zh": "五元券", "face_value_fen": 500,
                                     "valid_days": 10})
    db.session.commit()
    client.post("/console/segments/save", data={"name": "全部", "filters": "[]"})
    segment = db.session.scalar(select(Segment))
    assert "五元券" in client.get("/console/campaigns/new").text
    client.post("/console/campaigns/new", data={"name": "送券", "segment_id": segment.id, "text": "夏季促销",
                                                "purpose": "campaign", "control_pct": "0", "when": "draft",
                                                "coupon_template_id": str(tpl.id)})
    campaign = db.session.scalar(select(Campaign))
    assert campaign.coupon_template_id == tpl.id
    client.post(f"/console/campaigns/{campaign.id}/send")
    page = client.get(f"/console/campaigns/{campaign.id}").text
    assert "五元券" in page and "已发优惠券: <b>1</b>" in page


def test_cashiers_do_not_see_marketing(client, make):
    login(client, make, role="cashier")
    assert client.get("/console/campaigns").status_code == 403
