"""Signing in under attack: wrong passwords are throttled per username and per address with
back-off, an unknown username costs the same work as a known one, a lock-out shows on the staff
page, and logout or a new password ends every session of that staff member."""
from __future__ import annotations

from sqlalchemy import select

from wxcrm.extensions import db
from wxcrm.members import service as members
from wxcrm.members.models import Staff


def sign_in(client, username: str, password: str, **kw):
    return client.post("/login", data={"username": username, "password": password}, **kw)


def test_fifty_wrong_passwords_are_throttled_and_then_the_right_one_does_not_open_it(client, make):
    make.staff("cashier", username="till7", password="right-password-7")
    codes = [sign_in(client, "till7", f"guess-{n}").status_code for n in range(50)]
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}
    refused = sign_in(client, "till7", "right-password-7")
    assert refused.status_code in (200, 429) and "Location" not in refused.headers
    db.session.expire_all()
    staff = db.session.scalar(select(Staff).where(Staff.username == "till7"))
    assert staff.failed_logins == 5 and staff.locked_until is not None


def test_the_lock_out_doubles_and_the_right_password_waits_for_it(app, make):
    from datetime import datetime, timedelta
    person = make.staff("cashier", username="till8", password="right-password-8")
    now = datetime(2026, 3, 1, 10, 0)
    for _ in range(5):
        assert members.check_login(db.session, "till8", "wrong", now=now) is None
    assert person.locked_until == now + timedelta(seconds=60)   # the 5th in a row: a minute
    later = now + timedelta(seconds=61)
    assert members.check_login(db.session, "till8", "wrong", now=later) is None
    assert person.locked_until == later + timedelta(seconds=120)  # the 6th: two minutes
    assert members.check_login(db.session, "till8", "right-password-8", now=later + timedelta(seconds=60)) is None
    assert members.check_login(db.session, "till8", "right-password-8", now=later + timedelta(seconds=121)) is person
    assert person.failed_logins == 0


def test_many_usernames_from_one_address_are_throttled_too(client, configure):
    configure(LOGIN_LIMIT_PER_ADDRESS="10 per minute")
    codes = [sign_in(client, f"nobody{n}", "x-password").status_code for n in range(12)]
    assert codes[:10] == [200] * 10 and codes[10:] == [429, 429]


def test_an_unknown_username_costs_the_same_hash_as_a_known_one(app, make, monkeypatch):
    make.staff("cashier", username="till9", password="right-password-9")
    calls = []
    real = members.check_password_hash
    monkeypatch.setattr(members, "check_password_hash", lambda h, p: calls.append(h) or real(h, p))
    members.check_login(db.session, "till9", "wrong-password")
    members.check_login(db.session, "no-such-user", "wrong-password")
    assert len(calls) == 2
    assert calls[0].split("$")[0] == calls[1].split("$")[0]  # the same method and cost


def test_an_admin_sees_the_lock_out_and_can_lift_it(client, make):
    make.staff("admin", username="boss", password="boss-password-1")
    locked = make.staff("cashier", username="till6", password="right-password-6")
    for n in range(5):
        sign_in(client, "till6", f"nope-{n}")
    admin = client.application.test_client()
    assert sign_in(admin, "boss", "boss-password-1").status_code == 302
    page = admin.get("/console/staff?lang=en").get_data(as_text=True)
    assert 'data-testid="locked"' in page and "5 wrong passwords in a row" in page
    assert admin.post(f"/console/staff/{locked.id}/unlock").status_code == 302
    db.session.expire_all()
    assert db.session.get(Staff, locked.id).locked_until is None


def test_logout_ends_every_session_of_that_staff_member_even_a_saved_cookie(app, make):
    make.staff("admin", username="boss2", password="boss-password-2")
    laptop, phone = app.test_client(), app.test_client()
    for c in (laptop, phone):
        assert sign_in(c, "boss2", "boss-password-2").status_code == 302
    saved = laptop.get_cookie("session").value
    assert phone.get("/console/").status_code == 200
    laptop.post("/logout")
    assert phone.get("/console/").status_code == 302          # signed out on the other device too
    thief = app.test_client()
    thief.set_cookie("session", saved)
    assert thief.get("/console/").status_code == 302          # the cookie saved before logout opens nothing


def test_a_new_password_ends_every_session_and_the_new_one_signs_in(app, make):
    make.staff("cashier", username="till5", password="old-password-5")
    desk, other = app.test_client(), app.test_client()
    for c in (desk, other):
        sign_in(c, "till5", "old-password-5")
    r = desk.post("/account/password", data={"current": "old-password-5", "new": "new-password-5",
                                             "confirm": "new-password-5"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert other.get("/cashier/").status_code == 302
    assert sign_in(app.test_client(), "till5", "new-password-5").status_code == 302
    wrong = desk.post("/login", data={"username": "till5", "password": "new-password-5"})
    assert desk.get("/account/password").status_code == 200 and wrong.status_code == 302


def test_the_password_page_reads_in_both_languages(app, make):
    make.staff("cashier", username="till4", password="old-password-4")
    c = app.test_client()
    sign_in(c, "till4", "old-password-4")
    assert "修改密码" in c.get("/account/password?lang=zh_CN").get_data(as_text=True)
    assert "Change password" in c.get("/account/password?lang=en").get_data(as_text=True)
