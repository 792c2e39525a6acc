"""Coupons under concurrency (MariaDB: real row locks)."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from tests.conftest import mysql_only, post_sale
from wxcrm.coupons.models import Coupon, CouponTemplate
from wxcrm.extensions import db
from wxcrm.members.models import Member


def _template(app, token, **extra):
    with app.test_client() as c:
        r = c.post("/api/v1/coupon-templates", headers={"Authorization": f"Bearer {token}"},
                   json={"code": "C20", "type": "cash", "title_zh": "20元券", "face_value_fen": 2000,
                         "valid_days": 30} | extra)
        assert r.status_code == 201, r.json


def _issue(app, token, card_no) -> tuple[int, dict]:
    with app.test_client() as c:
        r = c.post("/api/v1/coupons", headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
                   json={"template": "C20", "member": {"card_no": card_no}, "reason": "load test"})
        return r.status_code, r.get_json()


@mysql_only
def test_fifty_issues_at_once_never_oversell_the_stock(app, make):
    marketer = make.token("marketer")
    _template(app, marketer, stock_total=20)
    cards = [make.member().card_no for _ in range(50)]
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda card: _issue(app, marketer, card), cards))
    ok = [r for r in results if r[0] == 201]
    assert len(ok) == 20, [r for r in results if r[0] != 201][:3]
    assert all(body["code"] == "coupon_out_of_stock" for status, body in results if status != 201)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Coupon.id))) == 20
    assert db.session.scalar(select(CouponTemplate.issued_count)) == 20
    assert len({b["code"] for _, b in ok}) == 20


@mysql_only
def test_one_code_from_two_tills_at_once_is_redeemed_once(app, make):
    s1, s2 = make.store("S001"), make.store("S002")
    tills = [make.token("cashier", s1), make.token("cashier", s2)]
    marketer = make.token("marketer")
    make.base_rule()
    member = make.member()
    _template(app, marketer)
    card = member.card_no
    code = _issue(app, marketer, card)[1]["code"]

    def ring(i):
        return post_sale(app, tills[i], {"store_code": f"S00{i + 1}", "member": {"card_no": card},
                                         "coupon_codes": [code],
                                         "items": [{"sku": "T", "qty": 1, "unit_price_fen": 5000}]}, str(uuid.uuid4()))
    for _ in range(3):     # a few rounds: the race goes either way
        db.session.execute(Coupon.__table__.update().values(status="available", used_transaction_id=None))
        db.session.execute(Member.__table__.update().values(coupons_held=1))
        db.session.commit()
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(ring, range(2)))
        statuses = sorted(status for status, _ in results)
        assert statuses == [201, 409], results
        refused = next(body for status, body in results if status == 409)
        assert refused["code"] == "coupon_used"
        db.session.expire_all()
        assert db.session.scalar(select(Coupon.status)) == "used"


@mysql_only
def test_two_refunds_at_once_give_the_coupon_back_once(app, make):
    store = make.store("S001")
    cashier, manager, manager2 = make.token("cashier", store), make.token("manager", store), make.token("manager", store)
    marketer = make.token("marketer")
    make.base_rule()
    member = make.member()
    _template(app, marketer)
    _issue(app, marketer, member.card_no)
    status, sale = post_sale(app, cashier, {"store_code": "S001", "member": {"card_no": member.card_no},
                                            "items": [{"sku": "T", "qty": 1, "unit_price_fen": 5000}]},
                             str(uuid.uuid4()))
    assert status == 201 and sale["coupons_applied"]

    def refund(token):
        with app.test_client() as c:
            r = c.post(f"/api/v1/transactions/{sale['id']}/refund", json={},
                       headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())})
            return r.status_code, r.get_json()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(refund, [manager, manager2]))
    assert sorted(s for s, _ in results) == [201, 422], results
    db.session.expire_all()
    assert db.session.scalar(select(Coupon.status)) == "available"
    assert db.session.get(Member, member.id).coupons_held == 1


def _rich_member(app, make, points):
    """A member with ``points`` to spend (a purchase by the base rule: a point a yuan)."""
    store = make.store("S001")
    make.base_rule()
    member = make.member(openid=f"o-{uuid.uuid4().hex[:8]}")
    status, body = post_sale(app, make.token("cashier", store), {
        "store_code": "S001", "member": {"card_no": member.card_no},
        "items": [{"sku": "T", "qty": 1, "unit_price_fen": points * 100}]}, str(uuid.uuid4()))
    assert status == 201, body
    return member


def _exchange(app, member, key):
    with app.test_client() as c:
        with c.session_transaction() as s:
            s["openid"], s["member_id"], s["oauth_scope"] = member.openid, member.id, "snsapi_base"
        r = c.post("/h5/coupons/exchange", data={"template": "C20", "key": key})
        return r.status_code


@mysql_only
def test_twenty_taps_at_once_keep_the_per_member_limit_and_spend_the_points_once_each(app, make):
    from wxcrm.ledger import service as ledger
    _template(app, make.token("marketer"), points_price=100, per_member_limit=3)
    member = _rich_member(app, make, 5000)
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda i: _exchange(app, member, f"tap-{i}"), range(20)))
    assert statuses.count(302) == 3 and statuses.count(200) == 17, statuses      # 200: the page again, saying why
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Coupon.id))) == 3
    assert ledger.balance(db.session, member.id, "points") == 5000 - 3 * 100
    assert db.session.get(Member, member.id).coupons_held == 3
    assert ledger.audit(db.session) == []


@mysql_only
def test_one_tap_sent_ten_times_at_once_gives_one_coupon(app, make):
    from wxcrm.ledger import service as ledger
    _template(app, make.token("marketer"), points_price=100)
    member = _rich_member(app, make, 5000)
    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda i: _exchange(app, member, "one-tap"), range(10)))
    assert statuses == [302] * 10, statuses
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Coupon.id))) == 1
    assert ledger.balance(db.session, member.id, "points") == 4900


@mysql_only
def test_one_gift_handed_over_at_two_stores_at_once_goes_once(app, make):
    from wxcrm.members.models import Store
    s2 = make.store("S002")
    member = _rich_member(app, make, 5000)
    s1 = db.session.scalar(select(Store).where(Store.code == "S001"))
    _template(app, make.token("marketer"), type="gift", title_zh="马克杯", item_sku="MUG-001", face_value_fen=6800,
              points_price=1000)
    assert _exchange(app, member, "gift-tap") == 302
    code = db.session.scalar(select(Coupon.code))
    tills = [make.token("cashier", s1), make.token("cashier", s2)]

    def hand_over(i):
        with app.test_client() as c:
            r = c.post(f"/api/v1/coupons/{code}/hand-over", json={"store_code": f"S00{i + 1}"},
                       headers={"Authorization": f"Bearer {tills[i]}"})
            return r.status_code, r.get_json()
    for _ in range(3):                       # the race goes either way
        db.session.execute(Coupon.__table__.update().values(status="available", used_store_id=None,
                                                            used_staff_id=None, used_at=None))
        db.session.execute(Member.__table__.update().values(coupons_held=1))
        db.session.commit()
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(hand_over, range(2)))
        assert sorted(s for s, _ in results) == [200, 409], results
        db.session.expire_all()
        assert db.session.scalar(select(Coupon.status)) == "used"
        assert db.session.get(Member, member.id).coupons_held == 0


@mysql_only
def test_a_bulk_issue_beside_single_issues_never_oversells_nor_deadlocks(app, make):
    """A campaign's bulk issue (members' rows, then the template's) while tills and the API
    issue the same template one by one (member, then template): the stock holds, nobody
    deadlocks, every member holds at most the per-member limit."""
    from wxcrm.config import settings_for
    from wxcrm.coupons.bulk import issue_to_members
    from wxcrm.timeutil import utcnow

    marketer = make.token("marketer")
    _template(app, marketer, stock_total=60, per_member_limit=1)
    members = [make.member() for _ in range(80)]
    template_id = db.session.scalar(select(CouponTemplate.id))
    ids = [m.id for m in members]

    def bulk(part):
        with app.app_context():
            result = issue_to_members(db.session, settings_for(app), template_id=template_id, member_ids=part,
                                      ref=f"campaign:{part[0]}", now=utcnow())
            db.session.commit()
            return ("bulk", result.issued)

    def single(card):
        status, body = _issue(app, marketer, card)
        return ("single", 1 if status == 201 else 0)

    jobs = [lambda: bulk(ids[:40]), lambda: bulk(ids[40:])] + [
        (lambda card=m.card_no: single(card)) for m in members[::4]]
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda job: job(), jobs))
    issued = sum(n for _, n in results)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Coupon.id))) == issued == 60
    assert db.session.scalar(select(CouponTemplate.issued_count)) == 60
    per_member = db.session.execute(select(Coupon.member_id, func.count()).group_by(Coupon.member_id)).all()
    assert max(n for _, n in per_member) == 1
    held = dict(db.session.execute(select(Member.id, Member.coupons_held).where(Member.id.in_(ids))).all())
    assert sum(held.values()) == 60
