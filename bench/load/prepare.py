"""Build the load bench's database: wxcrm's schema (the real migrations), the demo's stores,
tiers and rules, a cashier and a manager at S001 with API tokens, N members who follow the
account and hold points, and the bare baseline's two tables. Writes the Lua data file the
wrk profiles read (cards, tokens) and prints nothing else but a summary line.

    python bench/load/prepare.py --members 2000 --data /tmp/run/data.lua
"""
from __future__ import annotations

import argparse
import os
import sys
from datetime import date, datetime, timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from sqlalchemy import MetaData, select, text  # noqa: E402

from wxcrm import create_app  # noqa: E402
from wxcrm.extensions import db  # noqa: E402

START_POINTS = 100_000     # enough for every points purchase of a run
START_STORED_VALUE_FEN = 200_000   # 2,000 yuan: every split purchase of a run, top-ups stay under the cap
COUPONS_EACH = 20          # the coupon members' coupons: one is used by each purchase-with-coupon


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--data", required=True, help="the Lua file the wrk profiles read")
    parser.add_argument("--coupon-members", type=int, default=500,
                        help="members apart who each hold COUPONS_EACH coupons (the coupon and preview profiles)")
    parser.add_argument("--code-seconds", type=int, default=300,
                        help="how long after now the members' codes must last (the points profile spends with them)")
    args = parser.parse_args()
    app = create_app()
    with app.app_context():
        meta = MetaData()
        meta.reflect(db.engine)
        meta.drop_all(db.engine)
        from flask_migrate import upgrade
        upgrade()
        cashier, manager, cards = seed(args.members)
        coupon_cards = seed_coupon_members(args.coupon_members, args.members)
        bare_tables(args.members)
        # last: their window starts now (on a busy machine the coupon members take minutes,
        # and codes made before them expired before the points profile ran)
        tick0, ticks, codes = member_codes(args.code_seconds, args.members)
    with open(args.data, "w") as out:
        out.write("return {\n")
        out.write(f'  cashier = "{cashier}",\n  manager = "{manager}",\n')
        out.write("  cards = {" + ",".join(f'"{c}"' for c in cards) + "},\n")
        out.write("  coupon_cards = {" + ",".join(f'"{c}"' for c in coupon_cards) + "},\n")
        out.write(f"  code_tick0 = {tick0},\n  code_ticks = {ticks},\n")
        out.write("  codes = {" + ",".join(f'"{c}"' for c in codes) + "},\n}\n")
    print(f"prepared: {len(cards)} members, {len(coupon_cards)} members with {COUPONS_EACH} coupons each, "
          "demo rules and tiers, bare accounts")


def member_codes(seconds: int, n: int) -> tuple[int, int, list[str]]:
    """Every member's dynamic code for each 10-second step from now for ``seconds``, as the
    card page would show them: the points profile spends with codes (a typed card number
    may not spend), each (member, step) paying for one sale. Index: member * ticks + step."""
    from wxcrm import timeutil
    from wxcrm.cards.codes import TICK_SECONDS, issue_member_code
    from wxcrm.config import current_settings
    from wxcrm.members.models import Member
    secret = current_settings().member_code_secret
    now = timeutil.utcnow()
    tick0 = int(now.timestamp() if now.tzinfo else (now - datetime(1970, 1, 1)).total_seconds()) // TICK_SECONDS
    ticks = seconds // TICK_SECONDS + 1
    codes = []
    for member in db.session.scalars(select(Member).order_by(Member.id).limit(n)):
        for step in range(ticks):
            moment = datetime(1970, 1, 1) + timedelta(seconds=(tick0 + step) * TICK_SECONDS)
            codes.append(issue_member_code(db.session, member, secret=secret, now=moment).token)
    return tick0, ticks, codes


def seed(n: int) -> tuple[str, str, list[str]]:
    from wxcrm.config import current_settings
    from wxcrm.demo import STORES, TIERS, _seed_rules
    from wxcrm.ledger import service as ledger
    from wxcrm.members import service as members
    settings = current_settings()
    session = db.session
    for code, name, kind, city, address in STORES:
        members.create_store(session, code=code, name=name, kind=kind, city=city, address=address)
    for code, name, name_en, rank, threshold in TIERS:
        members.create_tier(session, code=code, name=name, name_en=name_en, rank=rank,
                            upgrade_threshold_fen=threshold)
    _seed_rules(session)
    cashier = members.create_staff(session, username="bench-cashier", password="bench-password-1",
                                   role="cashier", store_code="S001")
    manager = members.create_staff(session, username="bench-manager", password="bench-password-1",
                                   role="manager", store_code="S001")
    tokens = members.create_token(session, cashier, "bench"), members.create_token(session, manager, "bench")
    session.commit()
    today = date.today()
    cards = []
    for i in range(n):
        m = members.create_member(session, card_prefix=settings.card_prefix, today=today - timedelta(days=400),
                                  phone=f"137{i:08d}", openid=f"o-bench-{i:06d}", name=f"会员{i}",
                                  birthday=date(1990, 1 + i % 12, 1 + i % 28),
                                  privacy_version=settings.privacy_notice_version)
        m.followed = True
        ledger.earn_points(session, m.id, START_POINTS, ledger.Cause("adjustment", ref="bench", text_zh="压测初始积分",
                                                                    text_en="Bench starting points"),
                           today=today - timedelta(days=1), expires_on=today + timedelta(days=365))
        ledger.credit_value(session, m.id, START_STORED_VALUE_FEN, ledger.Cause(
            "adjustment", ref="bench", text_zh="压测初始储值", text_en="Bench starting stored value"))
        cards.append(m.card_no)
        if i % 200 == 199:
            session.commit()
    session.commit()
    return tokens[0], tokens[1], cards


def seed_coupon_members(n: int, offset: int) -> list[str]:
    """Members apart from the others (so the other profiles' purchases find no coupon and
    make no coupon query), each holding COUPONS_EACH coupons of a ¥5-off-¥15 voucher that a
    one-item purchase of ¥18 takes automatically. The coupons are written in bulk (the bench
    measures the till, not issuing)."""
    from sqlalchemy import insert, update

    from wxcrm.config import current_settings
    from wxcrm.coupons import service as coupons
    from wxcrm.coupons.codes import new_code
    from wxcrm.coupons.models import Coupon, CouponTemplate
    from wxcrm.members import service as members
    from wxcrm.members.models import Member
    settings = current_settings()
    session = db.session
    tpl = coupons.save_template(session, {"code": "BENCH-5", "type": "spend_get", "title_zh": "满15减5",
                                          "face_value_fen": 500, "min_spend_fen": 1500, "valid_days": 30})
    today = date.today()
    cards = []
    for i in range(n):
        m = members.create_member(session, card_prefix=settings.card_prefix, today=today - timedelta(days=400),
                                  phone=f"136{offset + i:08d}", openid=f"o-bench-c{i:06d}",
                                  privacy_version=settings.privacy_notice_version)
        session.flush()
        session.execute(insert(Coupon), [
            {"code": new_code(), "template_id": tpl.id, "member_id": m.id, "status": "available", "channel": "manual",
             "reason": "bench", "source_ref": f"bench:{m.id}:{k}", "valid_from": today,
             "valid_until": today + timedelta(days=29), "issued_at": datetime.utcnow(), "discount_fen": 0,
             "basket_fen": 0} for k in range(COUPONS_EACH)])
        session.execute(update(Member).where(Member.id == m.id).values(coupons_held=COUPONS_EACH))
        cards.append(m.card_no)
        if i % 200 == 199:
            session.commit()
    session.execute(update(CouponTemplate).where(CouponTemplate.id == tpl.id).values(issued_count=n * COUPONS_EACH))
    session.commit()
    return cards


def bare_tables(n: int) -> None:
    """The baseline's minimum: a balance row to lock and a ledger to append to."""
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE bare_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL)"))
        conn.execute(text("CREATE TABLE bare_entries (id BIGINT AUTO_INCREMENT PRIMARY KEY, account_id INT NOT NULL,"
                          " amount BIGINT NOT NULL, balance_after BIGINT NOT NULL, cause VARCHAR(32) NOT NULL,"
                          " created_at DATETIME NOT NULL, KEY (account_id))"))
        conn.execute(text("INSERT INTO bare_accounts (id, balance) VALUES (:id, 0)"),
                     [{"id": i} for i in range(1, n + 1)])


if __name__ == "__main__":
    main()
