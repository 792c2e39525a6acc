"""The console's outbox: every message's fate in the page's language and the shop's time:
sent (and how), moved to another channel and why, parked and why; no raw codes."""
from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import select

from wxcrm.config import settings_for
from wxcrm.extensions import db
from wxcrm.messages import fate, outbox
from wxcrm.messages.models import MassSend, OutboxMessage

NOW = datetime(2026, 3, 10, 4, 0)          # 12:00 in Shanghai
RAW = ("points_changed", "campaign", "birthday", "not_following", "mass_filtered", "wechat_member", "no_channel",
       ">template<", ">custom<", ">mass<", ">sms<", "UTC")


@pytest.fixture
def fates(app, make):
    settings = settings_for(app)
    follower = make.member(openid="o-con1", phone="13900000301")
    follower.followed = True
    gone = make.member(openid="o-con2", phone="13900000302")
    nobody = make.member(openid=None)
    nobody.phone = None
    db.session.commit()
    sent = outbox.enqueue(db.session, settings, purpose="points_changed", member=follower, text="积分 +20",
                          fields={"store": "南京西路店", "change": "+20", "balance": "120"}, now=NOW)
    sent.status, sent.sent_at = "sent", NOW
    by_sms = outbox.enqueue(db.session, settings, purpose="points_changed", member=gone, text="积分 +5",
                            fields={"store": "南京西路店", "change": "+5", "balance": "5"}, now=NOW)
    parked = outbox.enqueue(db.session, settings, purpose="campaign", member=nobody, text="春季上新", now=NOW)
    moved = outbox.enqueue(db.session, settings, purpose="campaign", member=follower, text="会员日", now=NOW)
    send = MassSend(content_key=moved.content_key, recipients=3, client_msg_id="c1", msg_id="1000000009",
                    status="reported", created_at=NOW, submitted_at=NOW, reported_at=NOW, report_status="send success",
                    total_count=3, filter_count=2, sent_count=2, error_count=0, unexplained=0, error="")
    db.session.add(send)
    db.session.flush()
    moved.status, moved.mass_send_id = "sent", send.id
    outbox.reroute(db.session, moved, fate.step("moved", "mass_past_four", "mass", NOW), NOW, settings,
                   channels=("custom", "sms"))
    db.session.commit()
    return {"sent": sent, "sms": by_sms, "parked": parked, "moved": moved}


def page(client, make, status: str, lang: str) -> str:
    make.staff("marketer", username=f"mk-{status}-{lang}")
    client.post("/login", data={"username": f"mk-{status}-{lang}", "password": "password123"})
    return client.get(f"/console/outbox/?status={status}&lang={lang}").get_data(as_text=True)


def test_the_outbox_tells_each_fate_in_chinese_in_the_shops_time(client, make, fates):
    pending = page(client, make, "pending", "zh")
    assert "等待以短信发送" in pending and "无法使用微信模板消息：该会员未关注公众号" in pending
    assert "微信群发消息未能送达，改用短信：微信群发报告：未送达，该会员本月已收满 4 条群发" in pending
    assert "积分变动" in pending and "营销活动" in pending and "2026-03-10 12:00" in pending
    parked = page(client, make, "parked", "zh")
    assert "已搁置：没有可用的渠道" in parked and "该会员未绑定微信" in parked and "该会员没有手机号" in parked
    sent = page(client, make, "sent", "zh")
    assert "已于 2026-03-10 12:00 以微信模板消息发出。" in sent
    for text in (pending, parked, sent):
        shown = re.sub(r"<(/?\w+)[^>]*>", r"<\1>", text)     # what a person reads, not links' addresses
        assert not [raw for raw in RAW if raw in shown], [raw for raw in RAW if raw in shown]


def test_the_outbox_tells_each_fate_in_english(client, make, fates):
    pending = page(client, make, "pending", "en")
    assert "WeChat template message not possible: the member does not follow the account" in pending
    assert "WeChat mass message did not carry it, moved to SMS" in pending
    parked = page(client, make, "parked", "en")
    assert "Parked: no channel can carry it" in parked and "Send again" in parked
    shown = re.sub(r"<(/?\w+)[^>]*>", r"<\1>", pending + parked)
    assert not [raw for raw in RAW if raw in shown]


def test_the_mass_sends_page_shows_wechats_reports(client, make, fates):
    make.staff("marketer", username="mk-mass")
    client.post("/login", data={"username": "mk-mass", "password": "password123"})
    html = client.get("/console/outbox/mass?lang=zh").get_data(as_text=True)
    assert "3 人中送达 2 人，失败 0 人" in html and "群发记录" in html
    assert db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.status == "pending"))
