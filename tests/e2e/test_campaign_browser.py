"""A marketer in a browser: builds a segment and sees its size, creates a campaign with a
control group and a coupon, sees its reach, sends it through the WeChat stand-in, and opens
its report; enables the birthday greeting with a coupon and runs its job by hand."""
from __future__ import annotations

from datetime import date, timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from wxcrm.config import settings_for
from wxcrm.extensions import db
from wxcrm.jobs.outbox import drain
from wxcrm.members.models import Member
from wxcrm.sales.models import Transaction


def coupon_template(code: str, title: str, **extra):
    from wxcrm.coupons.service import save_template
    tpl = save_template(db.session, {"code": code, "type": "cash", "title_zh": title, "face_value_fen": 1000,
                                     "valid_days": 30} | extra)
    db.session.commit()
    return tpl


def test_build_a_segment_send_a_campaign_and_read_its_report(live_server, make, standin, page, shot, app):
    store = make.store()
    openids = [f"o-e2e-{i:02d}" for i in range(24)]
    for i, openid in enumerate(openids):
        m = make.member(openid=openid, name=f"会员{i:02d}", gender="female" if i % 3 else "male")
        m.followed = True
    make.member(name="无微信", phone="13900009999")          # reachable only by SMS
    db.session.commit()
    standin.follow(*openids)
    make.staff("marketer", username="mk-camp", password="marketer-pass-1")
    coupon = coupon_template("AUTUMN10", "秋日10元券", stock_total=100)

    page.goto(f"{live_server.url}/login")
    page.fill("#username", "mk-camp")
    page.fill("#password", "marketer-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")

    # the segment: women who follow the account
    page.goto(f"{live_server.url}/console/segments/new")
    page.select_option("[data-testid=add-field]", "gender")
    page.select_option(".condition[data-field=gender] select.value", ["female"])
    page.select_option("[data-testid=add-field]", "followed")
    expect(page.locator("[data-testid=segment-size]")).to_have_text("16")
    expect(page.locator("#reach [data-reach=wechat]")).to_have_text("16")
    shot(page, "segment-builder-zh", full_page=True)
    page.fill("[data-testid=segment-name]", "关注公众号的女性会员")
    page.click("[data-testid=save-segment]")
    page.wait_for_url("**/console/segments/*")

    # the campaign, with a control group; its reach before sending
    page.click("[data-testid=to-campaign]")
    page.fill("[data-testid=campaign-name]", "秋季新品")
    page.fill("[data-testid=campaign-text]", "秋季新品上市，会员到店享双倍积分")
    page.fill("[data-testid=campaign-control]", "25")
    page.select_option("[data-testid=campaign-coupon]", str(coupon.id))
    page.click("[data-testid=create-campaign]")
    page.wait_for_url("**/console/campaigns/*")
    assert "16" in page.inner_text("[data-testid=campaign-reach]")
    shot(page, "campaign-before-sending-zh", full_page=True)
    page.click("[data-testid=send-campaign]")
    page.wait_for_selector("[data-testid=campaign-report]")

    # the dispatcher sends it through the stand-in (one mass send), then some recipients buy
    report = drain(db.session, settings_for(app))
    assert report.mass_calls == 1 and report.sent >= 2
    [mass] = standin.calls("/cgi-bin/message/mass/send")
    assert set(mass["body"]["touser"]) <= set(openids)
    assert "秋日10元券" in mass["body"]["text"]["content"]          # the message names the coupon
    recipients = mass["body"]["touser"]
    for openid in recipients[: len(recipients) // 2]:
        member = db.session.scalar(select(Member).where(Member.openid == openid))
        db.session.add(Transaction(kind="purchase", store_id=store.id, member_id=member.id, total_fen=12_800,
                                   payable_fen=12_800, receipt={}, business_date=date.today() + timedelta(days=0)))
    db.session.commit()

    page.reload()
    text = page.inner_text("[data-testid=campaign-report]")
    assert str(report.sent) in text and "提升" in text
    assert f"已发优惠券: {report.sent}" in page.inner_text("[data-testid=campaign-coupons]")
    shot(page, "campaign-report-zh", full_page=True)
    page.goto(page.url + "?lang=en")
    assert "Uplift" in page.inner_text("[data-testid=campaign-report]")
    shot(page, "campaign-report-en", full_page=True)


def test_a_marketer_enables_a_greeting_and_runs_its_job_by_hand(live_server, make, page, shot):
    from datetime import date as day

    m = make.member(openid="o-e2e-bday", name="寿星", birthday=day(1990, 10, 4))
    m.followed = True
    db.session.commit()
    make.staff("marketer", username="mk-greet", password="marketer-pass-1")
    coupon = coupon_template("BDAY20", "生日20元券")
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "mk-greet")
    page.fill("#password", "marketer-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")
    page.goto(f"{live_server.url}/console/greetings?year=2026")
    assert "2026-09-25" in page.inner_text("[data-testid=greetings]")          # 中秋
    page.check("[data-testid=enable-birthday]")
    page.select_option("[data-testid=coupon-birthday]", str(coupon.id))
    page.click("[data-testid=save-birthday]")
    page.wait_for_selector(".flash.success")
    shot(page, "greetings-zh", full_page=True)
    page.goto(f"{live_server.url}/console/jobs")
    page.fill("form:has([data-testid=run-birthday]) input[name=date]", "2026-10-01")
    page.click("[data-testid=run-birthday]")
    page.wait_for_selector(".flash.success")
    assert "已祝福 1" in page.inner_text("[data-testid=job-runs]")
    assert "优惠券 1" in page.inner_text("[data-testid=job-runs]")
    shot(page, "jobs-zh", full_page=True)
