"""Staff pages: login, roles, the till page, the console's stores and staff pages."""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from wxcrm.extensions import db
from wxcrm.sales.models import Transaction


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, username, password="password123"):
        return self.client.post("/login", data={"username": username, "password": password})


@pytest.fixture
def auth(client):
    return Auth(client)


def test_staff_sign_in_and_land_on_their_page(client, auth, make):
    cashier = make.staff("cashier")
    r = auth.login(cashier.username)
    assert r.status_code == 302
    assert client.get("/").headers["Location"].endswith("/cashier/")
    client.post("/logout")
    admin = make.staff("admin")
    auth.login(admin.username)
    assert client.get("/").headers["Location"].endswith("/console/")


def test_a_wrong_password_is_refused_with_a_message(client, auth, make):
    cashier = make.staff("cashier")
    r = auth.login(cashier.username, "nope-nope")
    assert r.status_code == 200 and "用户名或密码错误" in r.get_data(as_text=True)
    assert client.get("/cashier/").status_code == 302


def test_pages_are_in_chinese_by_default_and_english_by_switch(client, auth, make):
    auth.login(make.staff("admin").username)
    assert "门店" in client.get("/console/stores").get_data(as_text=True)
    assert "Stores" in client.get("/console/stores?lang=en").get_data(as_text=True)
    assert "New store" in client.get("/console/stores").get_data(as_text=True)  # kept in the session


def test_forms_need_a_csrf_token(app, client, auth, make):
    auth.login(make.staff("admin").username)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        r = client.post("/console/stores", data={"code": "S050", "name": "x", "kind": "direct"})
        assert r.status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_a_cashier_cannot_open_the_console_and_a_marketer_cannot_ring_up(client, auth, make):
    auth.login(make.staff("cashier").username)
    assert client.get("/console/").status_code == 403
    assert client.get("/console/stores").status_code == 403
    client.post("/logout")
    auth.login(make.staff("marketer").username)
    assert client.get("/console/").status_code == 200
    assert client.get("/cashier/").status_code == 403
    assert client.get("/console/staff").status_code == 403


def test_the_till_rings_up_a_member_purchase_and_shows_the_receipt(client, auth, make):
    store = make.store("S001")
    cashier = make.staff("cashier", store)
    make.base_rule()
    member = make.member(name="李雷")
    auth.login(cashier.username)
    page = client.get(f"/cashier/?card_no={member.card_no}").get_data(as_text=True)
    assert "李雷" in page
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    form = {"action": "ring_up", "idempotency_key": key, "card_no": member.card_no, "store_code": "S001",
            "payment_method": "wechat_pay", "points_to_use": "0",
            "sku": ["TEA-001", "BAK-002"], "category": ["tea", "bakery"], "qty": ["2", "1"], "price": ["18", "16.5"]}
    r = client.post(f"/cashier/?card_no={member.card_no}", data=form)
    assert r.status_code == 302 and "/cashier/receipt/" in r.headers["Location"]
    receipt = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "52.50" in receipt and "+52" in receipt and "积分" in receipt
    again = client.post(f"/cashier/?card_no={member.card_no}", data=form)  # a double click
    assert again.headers["Location"] == r.headers["Location"]
    assert db.session.scalar(select(func.count(Transaction.id))) == 1


def test_the_till_says_what_is_wrong_with_a_basket(client, auth, make):
    store = make.store("S001")
    auth.login(make.staff("cashier", store).username)
    form = {"action": "ring_up", "idempotency_key": str(uuid.uuid4()), "store_code": "S001",
            "sku": ["A"], "category": [""], "qty": ["1"], "price": ["abc"]}
    page = client.post("/cashier/", data=form).get_data(as_text=True)
    assert "第 1 行" in page
    assert db.session.scalar(select(func.count(Transaction.id))) == 0


def test_admins_create_stores_and_staff_from_the_console(client, auth, make):
    auth.login(make.staff("admin").username)
    r = client.post("/console/stores", data={"code": "S077", "name": "新店", "kind": "franchise"})
    assert r.status_code == 302
    page = client.get("/console/stores").get_data(as_text=True)
    assert "S077" in page and "新店" in page
    r = client.post("/console/staff", data={"username": "newbie", "role": "cashier", "store": "",
                                            "password": "long-enough-1"})
    assert r.status_code == 200 and "收银员必须属于一个门店" in r.get_data(as_text=True)
    r = client.post("/console/staff", data={"username": "newbie", "role": "cashier", "store": "S077",
                                            "password": "long-enough-1"})
    assert r.status_code == 302


def test_console_pages_render_for_a_seeded_shop(app, client, auth):
    assert app.test_cli_runner().invoke(args=["wxcrm", "seed-demo", "--members", "30", "--days", "20"]).exit_code == 0
    auth.login("admin", "admin-demo-2026")
    for url in ("/console/", "/console/members", "/console/members?q=138", "/console/stores", "/console/staff",
                "/cashier/history"):
        assert client.get(url).status_code == 200, url
    member_id = db.session.scalar(select(func.min(Transaction.member_id)))
    assert client.get(f"/console/members/{member_id}").status_code == 200


def test_customer_pages_never_show_a_member_without_their_session(client, make):
    member = make.member(name="某会员")
    r = client.get("/h5/")
    assert r.status_code == 302 and "/wechat/oauth/" in r.headers["Location"]  # identify by WeChat first
    assert member.card_no not in r.get_data(as_text=True)


def test_group_accounts_report_their_cards_and_spend(client, auth, make):
    import uuid as _uuid

    from wxcrm.members import service
    store = make.store("S001")
    service.create_group(db.session, code="G-ACME", name="艾克美")
    db.session.commit()
    m = make.member(group_code="G-ACME")
    token = make.token("cashier", store)
    client.post("/api/v1/transactions", json={"store_code": "S001", "member": {"member_id": m.id},
                                              "items": [{"sku": "A", "qty": 1, "unit_price_fen": 12345}]},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(_uuid.uuid4())})
    auth.login(make.staff("marketer").username)
    page = client.get("/console/groups").get_data(as_text=True)
    assert "G-ACME" in page and "¥123.45" in page and "123" in page
    assert client.post("/console/groups", data={"code": "G-NEW", "name": "x"}).status_code == 200  # marketers read only
    client.post("/logout")
    auth.login(make.staff("admin").username)
    assert client.post("/console/groups", data={"code": "G-NEW", "name": "新集团"}).status_code == 302
    assert "G-NEW" in client.get("/console/groups").get_data(as_text=True)
