"""Demo data: stores, staff, tiers, group accounts, members and their purchase history.

Purchases and refunds go through the real till service, so every point in the demo has a
ledger entry and `flask wxcrm audit` passes on a fresh demo; tiers follow the history
through the tier rules (up at once after a crossing purchase, down at each month end), so
every member's tier is the one their rolling 12-month spend gives, and a group account's
totals are its members'. Some members were referred by others, and a few purchases were
refunded (one of them a once-a-month birthday discount, used again afterwards).
"""
from __future__ import annotations

import heapq
import random
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.benefits import tiers as tier_rules
from wxcrm.benefits.daily import mark_day_done
from wxcrm.cards import codes, presence
from wxcrm.cards import service as cards
from wxcrm.checkout import service as checkout
from wxcrm.config import Settings
from wxcrm.ledger import service as ledger
from wxcrm.members import service as member_service
from wxcrm.members.models import Member, Store
from wxcrm.rules import storage as rules
from wxcrm.rules.catalogue import TEMPLATES
from wxcrm.timeutil import Clock, to_utc_naive
from wxcrm.topups import service as topups
from wxcrm.topups import settlement

STORES = [
    ("S001", "静安旗舰店", "direct", "上海", "上海市静安区南京西路 1266 号"),
    ("S002", "徐汇店", "direct", "上海", "上海市徐汇区淮海中路 999 号"),
    ("S003", "浦东店", "direct", "上海", "上海市浦东新区世纪大道 8 号"),
    ("S004", "杭州西湖店", "franchise", "杭州", "杭州市西湖区延安路 258 号"),
    ("S005", "苏州观前店", "franchise", "苏州", "苏州市姑苏区观前街 88 号"),
    ("S006", "南京新街口店", "direct", "南京", "南京市秦淮区中山南路 1 号"),
]
TIERS = [("normal", "普卡", "Classic", 1, 0), ("silver", "银卡", "Silver", 2, 200_000),
         ("gold", "金卡", "Gold", 3, 800_000), ("diamond", "钻石卡", "Diamond", 4, 2_000_000)]
PAID_MEMBERSHIP_FEN = {"gold": 19_900, "diamond": 49_900}
GROUPS = [("G-ACME", "艾克美科技有限公司"), ("G-RUN", "城市跑团"), ("G-STAFF", "本店员工")]
CATALOGUE = [  # sku, category, unit price fen
    ("TEA-001", "tea", 1800), ("TEA-002", "tea", 2600), ("COF-001", "coffee", 2800), ("COF-002", "coffee", 3200),
    ("BAK-001", "bakery", 1200), ("BAK-002", "bakery", 1600), ("SNK-001", "snacks", 900), ("GFT-001", "gifts", 16800),
    ("GFT-002", "gifts", 28800), ("BEA-001", "beans", 8800), ("MUG-001", "merch", 6800),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊洋艳勇军杰娟涛明超秀霞平刚桂英华"
DISTRICTS = ["静安区", "徐汇区", "浦东新区", "黄浦区", "长宁区", "西湖区", "姑苏区", "秦淮区", "闵行区"]
OCCUPATIONS = ["白领", "学生", "教师", "自由职业", "医生", "工程师", "退休"]
EDUCATION = ["高中", "大专", "本科", "硕士", "博士"]
INCOME = ["<5k", "5k-10k", "10k-20k", "20k-50k", ">50k"]
LOGINS = [("admin", "admin", "admin-demo-2026", None), ("marketer", "marketer", "marketer-demo-2026", None),
          ("cashier", "cashier1", "cashier-demo-2026", "S001"), ("manager", "manager1", "manager-demo-2026", "S001"),
          ("cashier", "cashier4", "cashier-demo-2026", "S004")]


def demo_logins_present(session: Session) -> list[str]:
    """The demo usernames that still sign in with their published password (production refuses them)."""
    from werkzeug.security import check_password_hash

    from wxcrm.members.models import Staff
    found = []
    for _role, username, password, _store in LOGINS:
        staff = session.scalar(select(Staff).where(Staff.username == username))
        if staff is not None and staff.active and check_password_hash(staff.password_hash, password):
            found.append(username)
    return found


DEMO_RULES = [  # (template, parameters, status); the base earning rule comes first (ensure_base_earning)
    ("points_per_tier_and_store", {"tier_rates": {"gold": 2, "diamond": 3}, "store_rates": {},
                                   "by_store_kind": False,
                                   "tier_names": {code: (zh, en) for code, zh, en, _, _ in TIERS}}, "active"),
    ("franchise_half_points", {}, "active"),
    ("birthday_extra_points", {}, "active"),
    ("birthday_month_discount", {"pct_off": 10}, "active"),
    ("double_points_time_window", {"weekdays": (3,), "start": "10:00", "end": "14:00"}, "active"),
    ("referral_on_first_purchase", {"points": 300, "min_fen": 5_000, "within_days": 30}, "active"),
    ("topup_bonus_tiers", {}, "active"),
    ("first_topup_points", {}, "active"),
    ("staff_no_points", {"group": "G-STAFF"}, "draft"),
    ("free_renewal_on_spend", {"threshold_fen": 100_000}, "draft"),
    ("renew_by_points", {"cost_points": 1000}, "draft"),
    ("cancel_on_low_spend", {"threshold_fen": 100_000}, "draft"),
    ("reset_points_on_expiry", {}, "draft"),
]
BIRTHDAY_GIFT = {"name": "生日礼遇", "name_en": "Birthday gift", "event": "birthday", "status": "active",
                 "priority": 0, "actions": [{"type": "bonus_points", "points": 188},
                                            {"type": "send_message", "template": "birthday"}]}


def _seed_rules(session: Session) -> None:
    """The brand's programme from the catalogue, on top of the base earning rule a new
    install starts with; the membership-expiry ones as drafts to review."""
    rules.ensure_base_earning(session)
    for key, params, status in DEMO_RULES:
        for rule in TEMPLATES[key].rules(**params):
            rules.create_rule(session, {**rule, "status": status})
    rules.create_rule(session, BIRTHDAY_GIFT)


def seed(session: Session, settings: Settings, *, members: int = 300, days: int = 120,
         seed: int = 7) -> list[tuple[str, str, str]]:
    logins = [(role, user, pw) for role, user, pw, _ in LOGINS]
    if session.scalar(select(Store.id).limit(1)) is not None:
        return logins  # already seeded
    rng = random.Random(seed)
    prefix = settings.card_prefix
    tz = settings.tz
    today = datetime.now(tz).date()

    for code, name, kind, city, address in STORES:
        member_service.create_store(session, code=code, name=name, kind=kind, city=city, address=address)
    settlement.create_franchisee(session, code="FR-HZSZ", name="杭苏加盟商", store_codes=("S004", "S005"))
    for code, name, name_en, rank, threshold in TIERS:
        tier = member_service.create_tier(session, code=code, name=name, name_en=name_en, rank=rank,
                                          upgrade_threshold_fen=threshold)
        tier.price_fen = PAID_MEMBERSHIP_FEN.get(code)        # paid membership: a year of gold or diamond
    for code, name in GROUPS:
        member_service.create_group(session, code=code, name=name)
    for role, username, password, store in LOGINS:
        member_service.create_staff(session, username=username, password=password, role=role, store_code=store,
                             display_name={"admin": "管理员", "marketer": "市场部", "cashier": "收银员",
                                           "manager": "店长"}[role])

    _seed_rules(session)

    people = []
    for i in range(members):
        joined = today - timedelta(days=rng.randint(0, 720))
        referred = i % 9 == 4 and i >= 7
        if referred:   # brought in by a friend lately: their first purchases fall inside the history
            joined = today - timedelta(days=rng.randint(3, max(3, min(days - 1, 25))))
        birthday = date(rng.randint(1960, 2006), rng.randint(1, 12), rng.randint(1, 28))
        if i < 3:  # a few birthdays this month, so the birthday rules have someone to greet
            birthday = birthday.replace(month=today.month, day=min(today.day, 28))
        elif i < 6:  # and a few in the greeting's window, so the birthday job sends today (set before
            # their history is rung up: a birthday changed after a sale would replay differently)
            ahead = today + timedelta(days=settings.birthday_greeting_days)
            birthday = birthday.replace(month=ahead.month, day=min(ahead.day, 28))
        m = member_service.create_member(
            session, card_prefix=prefix, today=joined, phone=f"13{rng.randint(0, 9)}{i:08d}",
            openid=f"demo-openid-{i:04d}", name=rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < .5 else ""),
            gender=rng.choice(["male", "female", "female", "unknown"]), birthday=birthday,
            district=rng.choice(DISTRICTS), occupation=rng.choice(OCCUPATIONS), education=rng.choice(EDUCATION),
            income_band=rng.choice(INCOME), home_store_code=rng.choice(STORES)[0],
            group_code=GROUPS[i % 2][0] if i % 25 == 0 else None,
            privacy_version=settings.privacy_notice_version, marketing_consent=rng.random() < 0.6,
            expires_on=joined.replace(year=joined.year + 2) if not (joined.month == 2 and joined.day == 29) else joined + timedelta(days=730))
        m.followed = rng.random() < 0.85
        if referred:                       # brought in by a member who joined earlier
            referrer = people[i - 7]
            if referrer.joined_on <= m.joined_on:
                m.referrer_id = referrer.id
        people.append(m)
    session.flush()

    _history(session, settings, rng, people, today=today, days=days)
    _cards(session, settings, people, today=today)
    session.flush()
    _seed_coupons(session, settings, people)
    session.flush()
    _marketing(session, settings, people, today=today)
    return logins


def _marketing(session: Session, settings: Settings, people: list[Member], *, today: date) -> None:
    """The greetings a brand turns on first, the ready RFM segments, and a campaign to the
    lapsing members waiting to be sent (its reach shown before sending)."""
    from wxcrm.campaigns import greetings
    from wxcrm.campaigns import service as campaigns
    from wxcrm.campaigns.models import Greeting
    greetings.ensure_greetings(session)
    for greeting in session.scalars(select(Greeting).where(Greeting.code.in_(
            ("birthday", "spring_festival", "mid_autumn", "national_day")))):
        greeting.enabled = True
    segments = {code: campaigns.save_segment(session, name=name, filters=[{"field": "rfm_class", "op": "in",
                                                                            "value": [code]}])
                for code, name in (("good", "优质会员"), ("grow_basket", "客单价可提升"),
                                   ("grow_frequency", "到店频次可提升"), ("lapsing", "流失预警会员"))}
    campaigns.save_segment(session, name="关注公众号的女性会员", filters=[
        {"field": "gender", "op": "in", "value": ["female"]}, {"field": "followed", "op": "==", "value": True}])
    campaign = campaigns.create_campaign(session, settings, name="老友回店礼", segment_id=segments["lapsing"].id,
                                         text="好久不见！本周回店消费享双倍积分，我们想您了。", control_pct=10,
                                         now=to_utc_naive(datetime.now(settings.tz)))
    campaign.status = "draft"
    session.flush()


def _cards(session: Session, settings: Settings, people: list[Member], *, today: date) -> None:
    """The cards issue's demo: member 8 lost their card and got a new number at the till;
    member 9 reported theirs lost on the card page (frozen); store S003 lets a typed card
    number spend (the others need the member code or a one-time code); and a walk-in
    purchase of this morning waits on its receipt's QR for someone to claim it."""
    at = to_utc_naive(datetime.combine(today, time(9, 0), settings.tz))
    if len(people) > 9:
        cards.report_lost(session, people[8], at=at, source="staff", reason="顾客手机丢失，到店挂失")
        cards.replace_card(session, settings, people[8], at=at + timedelta(minutes=5), source="staff",
                           reason="到店换新卡")
        cards.report_lost(session, people[9], at=at, source="member", reason="reported lost on the card page")
    presence.set_typed_card_spends(session, member_service.store_by_code(session, "S003"), True)
    checkout.ring_up_purchase(session, store_code="S001", clock=Clock.local_moment(datetime.now(settings.tz)),
                              settings=settings, items=[{"sku": "TEA-001", "category": "tea", "qty": 2,
                                                         "unit_price_fen": 3800}], notify=False)
DEMO_COUPONS = [
    {"code": "WELCOME20", "type": "spend_get", "title_zh": "新人满100减20", "title_en": "20 off 100 for newcomers",
     "description_zh": "欢迎加入，全场通用。", "description_en": "Welcome: valid on everything.",
     "color": "#e64340", "face_value_fen": 2000, "min_spend_fen": 10000, "valid_days": 30, "per_member_limit": 1},
    {"code": "COFFEE90", "type": "percent", "title_zh": "咖啡9折券", "title_en": "10% off coffee", "color": "#8b5a2b",
     "percent_off": 10, "cap_fen": 3000, "valid_days": 14, "combinable": True,
     "restrictions": {"categories_in": ["coffee"]}},
    {"code": "BAKERY-FREE", "type": "free_item", "title_zh": "免费面包一个", "title_en": "A free bread roll",
     "color": "#f0a020", "item_sku": "BAK-001", "valid_days": 7, "combinable": True,
     "restrictions": {"weekdays": [1, 2, 3, 4, 5]}},
    {"code": "CASH10-PTS", "type": "cash", "title_zh": "10元代金券", "title_en": "10 yuan voucher", "color": "#07c160",
     "face_value_fen": 1000, "min_spend_fen": 3000, "valid_days": 30, "points_price": 300, "per_member_limit": 3,
     "stock_total": 500, "with_points": False},
    {"code": "MUG-GIFT", "type": "gift", "title_zh": "品牌马克杯兑换券", "title_en": "Brand mug gift", "color": "#576b95",
     "item_sku": "MUG-001", "face_value_fen": 6800, "valid_days": 60, "points_price": 1500, "per_member_limit": 1,
     "stock_total": 50},
]


def _seed_coupons(session: Session, settings: Settings, people: list[Member]) -> None:
    """Coupon templates, a welcome coupon for new members (a signup rule), and coupons in a
    few wallets (a couple used at the till, so the report has figures)."""
    from wxcrm.coupons import service as coupons
    for data in DEMO_COUPONS:
        coupons.save_template(session, data)
    rules.create_rule(session, {"name": "新会员送券", "name_en": "Welcome coupon", "event": "signup",
                                "status": "active", "priority": 0,
                                "actions": [{"type": "issue_coupon", "template": "WELCOME20"}]})
    clock = Clock.now(settings.tz)
    for i, member in enumerate(people[:12]):
        for code in ("WELCOME20", "COFFEE90", "BAKERY-FREE")[: 1 + i % 3]:
            coupons.issue_coupon(session, settings, template_code=code, member=member, channel="campaign",
                                 source_ref=f"demo:{code}:{member.id}", clock=clock, reason="demo", notify=False)
    for member in people[6:9]:
        checkout.ring_up_purchase(session, store_code="S001", clock=clock, settings=settings, notify=False,
                                  member_ref={"member_id": member.id},
                                  items=[{"sku": "COF-002", "category": "coffee", "qty": 3, "unit_price_fen": 3200},
                                         {"sku": "BAK-001", "category": "bakery", "qty": 1, "unit_price_fen": 1200}])


def _history(session: Session, settings: Settings, rng: random.Random, people: list[Member], *, today: date,
             days: int) -> None:
    """Purchase history, oldest first, through the real till; a few refunds a little later;
    the tiers' month-end review at each month's turn, as the daily job does."""
    tz = settings.tz
    store_codes = [s[0] for s in STORES]
    sales = []
    for m in people:
        for _ in range(rng.choice([0, 1, 2, 3, 5, 8, 12])):
            day = today - timedelta(days=rng.randint(0, days - 1))
            if day < m.joined_on:
                day = m.joined_on if m.joined_on <= today else today
            sales.append((day, rng.randint(8, 21), rng.randint(0, 59), m))
        if rng.random() < 0.25:   # a stored-value customer: tops up at the counter, then pays with it
            day = max(m.joined_on, today - timedelta(days=rng.randint(days // 2, days - 1)))
            sales.append((min(day, today), 8, 0, ("topup", m)))
    for _ in range(len(people) // 3):  # walk-in sales without a member
        sales.append((today - timedelta(days=rng.randint(0, days - 1)), rng.randint(8, 21), rng.randint(0, 59), None))
    sales.sort(key=lambda s: (s[0], s[1], s[2]))
    refunds: list[tuple[datetime, int, int, bool]] = []      # (when, order, purchase id, whole)
    month = None
    for day, hour, minute, m in sales:
        local = datetime.combine(day, time(hour, minute), tz)
        if isinstance(m, tuple):          # a top-up at the counter of the member's home store
            member = m[1]
            topups.top_up_at_counter(session, store_code=member.home_store.code, member_ref={"member_id": member.id},
                                     amount_fen=rng.choice([20_000, 50_000, 50_000, 100_000]), method="cash",
                                     clock=Clock.local_moment(local), settings=settings, notify=False)
            continue
        _refunds_due(session, settings, refunds, local)
        if month is not None and (day.year, day.month) != month:
            _month_end_review(session, settings, day.replace(day=1))
        month = (day.year, day.month)
        clock = Clock.local_moment(local)
        basket = [{"sku": sku, "category": cat, "qty": rng.choice([1, 1, 1, 2, 3]), "unit_price_fen": price}
                  for sku, cat, price in rng.sample(CATALOGUE, rng.randint(1, 4))]
        home = m.home_store.code if m and m.home_store else rng.choice(store_codes)
        store = home if rng.random() < 0.7 else rng.choice(store_codes)
        method = rng.choice(["wechat_pay", "wechat_pay", "alipay", "card", "cash"])
        payments = None
        value = ledger.balance(session, m.id, "stored_value") if m else 0
        if value:                     # stored value pays up to half the basket, the chosen method the rest
            half = sum(line["qty"] * line["unit_price_fen"] for line in basket) // 2
            payments = [{"method": "stored_value", "amount_fen": min(value, half)}, {"method": method}]
        member_ref = {"member_id": m.id} if m else None
        if payments:                  # spending needs the member at the till: they showed their member code
            member_ref = {"qr_token": codes.issue_member_code(session, m, secret=settings.member_code_secret,
                                                              now=clock.utc).token}
        txn = checkout.ring_up_purchase(session, store_code=store, items=basket, clock=clock, settings=settings,
                                        member_ref=member_ref, payment_method=method,
                                        payments=payments, notify=False)  # history: its notices went out long ago
        if m is not None and rng.random() < 0.05:        # returned, whole or one line, within a few days
            when = local + timedelta(days=rng.randint(0, 3), hours=rng.randint(0, 3))
            if when.date() <= today:
                heapq.heappush(refunds, (when, txn.id, txn.id, rng.random() < 0.6))
    _refunds_due(session, settings, refunds, datetime.combine(today, time(23, 59), tz))
    _birthday_discount_used_again(session, settings, people, today=today)


def _refunds_due(session: Session, settings: Settings, refunds: list, until: datetime) -> None:
    while refunds and refunds[0][0] <= until:
        when, _, purchase_id, whole = heapq.heappop(refunds)
        items = None if whole else [{"line_no": 1, "qty": 1}]
        checkout.refund_purchase(session, transaction_id=purchase_id, clock=Clock.local_moment(when),
                                 settings=settings, items=items, notify=False)


def _month_end_review(session: Session, settings: Settings, first_of_month: date) -> None:
    """What the daily `tiers` job does on the first of a month: each member's tier as their
    spend stood at the end of the month before (down as well as up)."""
    month_end = first_of_month - timedelta(days=1)
    at = to_utc_naive(datetime.combine(first_of_month, time(0, 5), settings.tz))
    reviewed = 0
    for member in session.scalars(select(Member).order_by(Member.id)):
        tier_rules.review_month_end(session, member, month_end=month_end, at=at, tz=settings.tz)
        reviewed += 1
    mark_day_done(session, "tiers", month_end, reviewed)


def _birthday_discount_used_again(session: Session, settings: Settings, people: list[Member], *,
                                  today: date) -> None:
    """A birthday member buys this morning with the once-a-month birthday discount, brings it
    all back, and buys again: the refund gave the discount's use back, so it applies again."""
    from wxcrm.sales.models import Transaction
    month_start = today.replace(day=1)
    bought_this_month = set(session.scalars(select(Transaction.member_id).where(
        Transaction.business_date >= month_start, Transaction.member_id.is_not(None))))
    member = next((m for m in people if m.birthday and m.birthday.month == today.month and m.status == "active"
                   and m.id not in bought_this_month), None)
    if member is None:
        return
    basket = [{"sku": "GFT-001", "category": "gifts", "qty": 1, "unit_price_fen": 16800}]
    first = datetime.combine(today, time(0, 10), settings.tz)
    bought = checkout.ring_up_purchase(session, store_code="S001", items=basket, clock=Clock.local_moment(first),
                                       settings=settings, member_ref={"member_id": member.id}, notify=False)
    checkout.refund_purchase(session, transaction_id=bought.id, settings=settings, notify=False,
                             clock=Clock.local_moment(first + timedelta(minutes=10)))
    checkout.ring_up_purchase(session, store_code="S001", items=basket, settings=settings, notify=False,
                              clock=Clock.local_moment(first + timedelta(minutes=20)),
                              member_ref={"member_id": member.id})
