"""Issue 9, item 13 in a browser at 390 px: the member opens their card in WeChat, goes to
their profile from it, is told the birthday can be set once, saves, and sees it confirmed;
in Chinese and in English."""
from __future__ import annotations

import pytest
import requests

from wxcrm.extensions import db
from wxcrm.members.models import Member

pytestmark = pytest.mark.e2e


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                                  user_agent="Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile")
    p = context.new_page()
    p.set_default_timeout(15000)
    yield p
    context.close()


def test_a_member_sets_their_profile_once_from_the_card_page(live_server, make, phone, standin, configure, shot):
    # The phone reaches wxcrm at its public address, the host WeChat's web authorisation is set up for.
    public = live_server.url.replace("127.0.0.1", "localhost")
    configure(PUBLIC_URL=public)
    member = make.member(openid="o-profile-browser", name="")
    requests.post(f"{standin.url}/standin/oauth-user", json={"openid": "o-profile-browser"})  # who the phone is
    page = phone

    page.goto(f"{public}/h5/")
    page.wait_for_selector("[data-testid=vcard]")
    page.click("[data-testid=profile-link]")
    page.wait_for_selector("[data-testid=profile-form]")
    assert "生日只能设置一次" in page.inner_text("[data-testid=birthday-note]")
    shot(page, "h5-profile-before-zh", full_page=True)
    page.fill("[name=name]", "李雷")
    page.select_option("[name=gender]", "male")
    page.fill("[name=birthday]", "1990-05-04")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=vcard]")
    assert "个人资料已保存" in page.inner_text("[data-testid=flash]")
    shot(page, "h5-card-saved-zh", full_page=True)

    page.click("[data-testid=profile-link]")
    page.wait_for_selector("[data-testid=profile-form]")
    assert page.get_attribute("[name=birthday]", "readonly") is not None
    assert "到门店" in page.inner_text("[data-testid=birthday-note]")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.goto(f"{public}/h5/profile?lang=en")
    page.wait_for_selector("[data-testid=profile-form]")
    assert "ask at the till" in page.inner_text("[data-testid=birthday-note]")
    assert "Male" in page.inner_text("[name=gender]") or "male" in page.inner_text("[name=gender]")
    shot(page, "h5-profile-after-en", full_page=True)
    db.session.expire_all()
    saved = db.session.get(Member, member.id)
    assert (saved.name, str(saved.birthday)) == ("李雷", "1990-05-04")
