"""A large, realistic history written in bulk: members with demographics and birthdays,
purchases with seasonality (months, weekdays, hours), a store mix, baskets over the
catalogue, points redeemed and earned, refunds, and points that expired.

Written straight into the tables with multi-row inserts, not through the till, but with
the till's invariants: every point has a ledger entry (cause, transaction), every credit a
lot, every debit its lot movements, each entry's ``balance_after`` the running balance, and
each account's balance the sum of its entries, so ``flask wxcrm audit`` is clean. Each member's
history is simulated in order in memory, one chunk of members at a time; ids are handed out
here, so a chunk is a handful of ``INSERT`` statements. :func:`seed_history` yields after
each chunk so its caller can commit and show progress.
"""
from __future__ import annotations

import bisect
import itertools
import operator
import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wxcrm.analytics.rollup import Line, Sale, Totals
from wxcrm.config import Settings
from wxcrm.ledger.models import LedgerAccount, LedgerEntry, LotMovement, PointsLot
from wxcrm.ledger.service import expiry_date
from wxcrm.members.models import ConsentRecord, GroupAccount, Member, Store, Tier
from wxcrm.members.service import reserve_card_numbers
from wxcrm.sales.models import Transaction, TransactionItem
from wxcrm.sqlutil import ROWS_PER_STATEMENT, mysql_values
from wxcrm.timeutil import add_months, to_utc_naive

CATALOGUE = [  # sku, category, unit price fen, weight
    ("TEA-001", "tea", 1800, 10), ("TEA-002", "tea", 2600, 6), ("COF-001", "coffee", 2800, 12),
    ("COF-002", "coffee", 3200, 8), ("BAK-001", "bakery", 1200, 10), ("BAK-002", "bakery", 1600, 7),
    ("SNK-001", "snacks", 900, 8), ("GFT-001", "gifts", 16800, 1), ("GFT-002", "gifts", 28800, 1),
    ("BEA-001", "beans", 8800, 2), ("MUG-001", "merch", 6800, 1),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊洋艳勇军杰娟涛明超秀霞平刚桂英华"
DISTRICTS = ["静安区", "徐汇区", "浦东新区", "黄浦区", "长宁区", "西湖区", "姑苏区", "秦淮区", "闵行区"]
OCCUPATIONS = ["白领", "学生", "教师", "自由职业", "医生", "工程师", "退休"]
EDUCATION = ["高中", "大专", "本科", "硕士", "博士"]
INCOME = ["<5k", "5k-10k", "10k-20k", "20k-50k", ">50k"]
PAYMENTS = ["wechat_pay", "wechat_pay", "wechat_pay", "alipay", "card", "cash"]
# Seasonality: Spring Festival and the year end are busy, February after the festival and the
# summer holidays quieter; weekends busier; lunch and the evening the busiest hours.
MONTH_FACTOR = {1: 1.35, 2: 0.85, 3: 0.95, 4: 1.0, 5: 1.05, 6: 1.0, 7: 0.9, 8: 0.9, 9: 1.0, 10: 1.15, 11: 1.2,
                12: 1.4}
WEEKDAY_FACTOR = [0.85, 0.85, 0.9, 0.95, 1.1, 1.35, 1.3]
HOURS = list(range(8, 22))
HOUR_WEIGHTS = [3, 6, 7, 8, 12, 11, 7, 6, 7, 8, 10, 9, 6, 3]
STORE_WEIGHTS = [5, 3, 4, 2, 2, 2]  # the flagship busiest; cycled over however many stores there are

CHUNK_MEMBERS = 2000


def _next_id(session: Session, column) -> int:
    return int(session.scalar(select(func.coalesce(func.max(column), 0)))) + 1


ID_TABLES = {"member": Member, "account": LedgerAccount, "txn": Transaction, "item": TransactionItem,
             "entry": LedgerEntry, "lot": PointsLot, "movement": LotMovement}


class _Ids:
    """The next id of each table, from ``bases`` (a part's own id blocks) or past the largest."""

    def __init__(self, session: Session, bases: dict[str, int] | None = None) -> None:
        for name, model in ID_TABLES.items():
            setattr(self, name, itertools.count(bases[name] if bases else _next_id(session, model.id)))


class _Chunk:
    """The rows of one chunk of members, written table by table in foreign-key order."""

    def __init__(self) -> None:
        self.members: list[dict] = []
        self.consents: list[dict] = []
        self.accounts: list[dict] = []
        self.txns: list[dict] = []
        self.items: list[dict] = []
        self.entries: list[dict] = []
        self.lots: list[dict] = []
        self.movements: list[dict] = []

    def tables(self) -> tuple:
        return ((Member, self.members), (ConsentRecord, self.consents), (LedgerAccount, self.accounts),
                (Transaction, self.txns), (TransactionItem, self.items), (LedgerEntry, self.entries),
                (PointsLot, self.lots), (LotMovement, self.movements))

    def write(self, session: Session) -> None:
        if session.get_bind().dialect.name in ("mysql", "mariadb"):
            _write_mysql(session, self.tables())
            return
        for model, rows in self.tables():
            for start in range(0, len(rows), 5000):
                session.execute(model.__table__.insert(), rows[start:start + 5000])


def _write_mysql(session: Session, tables) -> None:
    cursor = session.connection().connection.cursor()
    # The ids are handed out here and every reference is to a row written before it or in the
    # same chunk: the server need not check each one (the audit checks the result).
    # MariaDB loads an empty table in bulk under a table lock held to the commit: another part
    # of the same load (``--parts``) waits for the first chunk, longer than the default 50 s.
    cursor.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0, innodb_lock_wait_timeout = 3600")
    try:
        for model, rows in tables:
            if not rows:
                continue
            cols = list(rows[0])
            pick = operator.itemgetter(*cols)
            head = f"INSERT INTO {model.__table__.name} ({', '.join(cols)}) VALUES "
            for start in range(0, len(rows), ROWS_PER_STATEMENT):
                cursor.execute(head + mysql_values(map(pick, rows[start:start + ROWS_PER_STATEMENT])))
    finally:
        cursor.execute("SET SESSION foreign_key_checks = 1, unique_checks = 1, innodb_lock_wait_timeout = DEFAULT")
        cursor.close()


class _Points:
    """One member's points account as the till would have kept it."""

    def __init__(self, ids: _Ids, chunk: _Chunk, account_id: int, tz) -> None:
        self.ids, self.chunk, self.account_id, self.tz = ids, chunk, account_id, tz
        self.balance = 0
        self.lots: list[dict] = []       # open lots, in creation order

    def _entry(self, amount: int, cause: str, ref: str, txn_id: int | None, at: datetime, zh: str, en: str) -> int:
        self.balance += amount
        entry_id = next(self.ids.entry)
        self.chunk.entries.append(dict(id=entry_id, account_id=self.account_id, amount=amount,
                                       balance_after=self.balance, cause=cause, cause_id=ref, transaction_id=txn_id,
                                       rule_id=None, rule_version=None, staff_id=None, text_zh=zh, text_en=en,
                                       created_at=at))
        return entry_id

    def _take(self, entry_id: int, lots: list[dict], points: int) -> None:
        for lot in lots:
            if points == 0:
                break
            take = min(lot["remaining"], points)
            if take <= 0:
                continue
            lot["remaining"] -= take
            points -= take
            self.chunk.movements.append(dict(id=next(self.ids.movement), entry_id=entry_id, lot_id=lot["id"],
                                             points=-take))
        self.lots = [lot for lot in self.lots if lot["remaining"] > 0]

    def expire_before(self, day: date) -> None:
        """What the daily expiry job did on each day up to ``day``: lots past their last day."""
        due = sorted({lot["expires_on"] for lot in self.lots if lot["expires_on"] < day})
        for last_day in due:
            lots = [lot for lot in self.lots if lot["expires_on"] == last_day]
            points = sum(lot["remaining"] for lot in lots)
            run_day = last_day + timedelta(days=1)
            at = to_utc_naive(datetime.combine(run_day, time(0, 5), self.tz))
            entry_id = self._entry(-points, "expiry", run_day.isoformat(), None, at,
                                   f"{points} 积分已于 {run_day.isoformat()} 前到期",
                                   f"{points} points expired before {run_day.isoformat()}")
            self._take(entry_id, lots, points)

    def available(self, day: date) -> int:
        return sum(lot["remaining"] for lot in self.lots if lot["expires_on"] >= day)

    def redeem(self, points: int, txn_id: int, day: date, at: datetime) -> None:
        entry_id = self._entry(-points, "redeem", str(txn_id), txn_id, at, f"积分抵扣 {points} 分",
                               f"{points} points redeemed")
        lots = sorted((lot for lot in self.lots if lot["expires_on"] >= day), key=lambda lot: (lot["expires_on"], lot["id"]))
        self._take(entry_id, lots, points)

    def earn(self, points: int, txn_id: int, day: date, at: datetime, months: int) -> None:
        entry_id = self._entry(points, "purchase", str(txn_id), txn_id, at, f"消费获得 {points} 积分",
                               f"{points} points earned")
        lot = dict(id=next(self.ids.lot), account_id=self.account_id, entry_id=entry_id, points=points,
                   remaining=points, available_from=day, expires_on=expiry_date(day, months), transaction_id=txn_id,
                   created_at=at)
        self.chunk.lots.append(lot)
        self.lots.append(lot)

    def claw_back(self, points: int, purchase_id: int, refund_id: int, at: datetime) -> int:
        """A refund takes back what the purchase earned: its own lot first. Returns the shortfall."""
        lots = sorted(self.lots, key=lambda lot: (lot["transaction_id"] != purchase_id, lot["expires_on"], lot["id"]))
        take = min(points, sum(lot["remaining"] for lot in lots))
        if take:
            entry_id = self._entry(-take, "refund", str(refund_id), refund_id, at,
                                   f"退货扣回积分（原单 {purchase_id}）", f"Points taken back for refund of #{purchase_id}")
            self._take(entry_id, lots, take)
        return points - take


def _spread(rng: random.Random, members: int, transactions: int) -> tuple[list[int], int]:
    """How many purchases each member makes, and the walk-ins: about one sale in eight is a
    walk-in without a member; the rest spread over members with a long tail (a few regulars buy
    every week, many came once)."""
    walk_ins = transactions // 8
    weights = [rng.paretovariate(1.3) for _ in range(members)]
    per_member = [0] * members
    for i in rng.choices(range(members), weights=weights, k=max(0, transactions - walk_ins)):
        per_member[i] += 1
    return per_member, walk_ins


def _part_bounds(members: int, part: int, parts: int) -> tuple[int, int]:
    return members * part // parts, members * (part + 1) // parts


def plan_parts(session: Session, *, members: int, transactions: int, seed: int, parts: int) -> list[dict[str, int]]:
    """Each part's own id blocks, so ``parts`` processes write one history side by side: a part's
    members and accounts exactly, and for the rest the most its purchases can make (a refund per
    purchase, four lines a sale, three entries, a lot and four lot movements), so no two parts'
    ids can meet. The blocks leave gaps between parts' ids, nothing else."""
    per_member, walk_ins = _spread(random.Random(seed), members, transactions)
    bases = {name: _next_id(session, model.id) for name, model in ID_TABLES.items()}
    plans = []
    for part in range(parts):
        lo, hi = _part_bounds(members, part, parts)
        sales = sum(per_member[lo:hi]) + _walk_in_share(walk_ins, members, lo, hi)
        plans.append(dict(bases))
        size = {"member": hi - lo, "account": 2 * (hi - lo), "txn": 2 * sales, "item": 8 * sales,
                "entry": 6 * sales, "lot": 2 * sales, "movement": 8 * sales}
        bases = {name: base + size[name] for name, base in bases.items()}
    return plans


def _walk_in_share(walk_ins: int, members: int, lo: int, hi: int) -> int:
    """The walk-ins written beside members ``lo``..``hi`` (so every split of the members adds up to all)."""
    return walk_ins * hi // members - walk_ins * lo // members


def seed_history(session: Session, settings: Settings, *, members: int, transactions: int, days: int = 760,
                 seed: int = 7, today: date | None = None, totals: Totals | None = None, part: int = 0,
                 parts: int = 1, bases: dict[str, int] | None = None,
                 cards: list[str] | None = None) -> Iterator[int]:
    """Write ``members`` members and about ``transactions`` purchases and refunds over the last
    ``days`` days. Yields the number of members written after each chunk (the caller commits).
    ``totals``: each chunk is also added up there for the report rollups, by the roll-up's own
    code, from the rows in memory (the caller writes them at the end), so a large data set is
    not read back from the database to be rolled up. ``part`` of ``parts``, with ``bases`` and
    ``cards`` from the caller (:func:`plan_parts`): only that share of the members, in its own
    id blocks, so several processes write one history side by side."""
    rng = random.Random(seed)
    tz = settings.tz
    today = today or datetime.now(tz).date()
    stores = list(session.execute(select(Store.id).order_by(Store.id)).scalars())
    if not stores:
        raise ValueError("no stores: seed the demo stores first")
    tiers = list(session.execute(select(Tier.id, Tier.upgrade_threshold_fen).order_by(Tier.rank)).all())
    groups = list(session.scalars(select(GroupAccount.id).order_by(GroupAccount.id)))
    store_weights = [STORE_WEIGHTS[i % len(STORE_WEIGHTS)] for i in range(len(stores))]
    first_day = today - timedelta(days=days)  # up to yesterday: nothing in the future of today
    day_list = [first_day + timedelta(days=d) for d in range(days)]
    day_cum = list(itertools.accumulate(
        MONTH_FACTOR[d.month] * WEEKDAY_FACTOR[d.weekday()] * (0.8 + 0.4 * i / days) for i, d in enumerate(day_list)))
    hour_cum = list(itertools.accumulate(HOUR_WEIGHTS))
    item_cum = list(itertools.accumulate(w for *_, w in CATALOGUE))
    ids = _Ids(session, bases)
    if cards is None:
        cards = reserve_card_numbers(session, settings.card_prefix, members)
    per_member, walk_ins = _spread(rng, members, transactions)
    if parts > 1:
        rng = random.Random(seed * 7919 + part)   # the part's own draws; the spread is everyone's
    first, last = _part_bounds(members, part, parts)
    refund_rate = 0.03

    def pick_day() -> date:
        return day_list[bisect.bisect_left(day_cum, rng.random() * day_cum[-1])]

    def moment(day: date) -> datetime:
        hour = HOURS[bisect.bisect_left(hour_cum, rng.random() * hour_cum[-1])]
        return datetime.combine(day, time(hour, rng.randint(0, 59), rng.randint(0, 59)), tz)

    def basket(txn_id: int) -> tuple[list[dict], int]:
        lines, total = [], 0
        for line_no in range(1, rng.choice([1, 1, 2, 2, 3, 4]) + 1):
            sku, category, price, _ = CATALOGUE[bisect.bisect_left(item_cum, rng.random() * item_cum[-1])]
            qty = rng.choice([1, 1, 1, 2, 3])
            lines.append(dict(id=next(ids.item), transaction_id=txn_id, line_no=line_no, sku=sku, category=category,
                              qty=qty, unit_price_fen=price, amount_fen=price * qty, discount_fen=0, refunded_qty=0))
            total += price * qty
        return lines, total

    def purchase(chunk: _Chunk, member_id: int | None, store_id: int, local: datetime) -> dict:
        txn_id = next(ids.txn)
        lines, total = basket(txn_id)
        at = to_utc_naive(local)
        txn = dict(id=txn_id, kind="purchase", store_id=store_id, member_id=member_id, staff_id=None, original_id=None,
                   payment_method=rng.choice(PAYMENTS), total_fen=total, discount_fen=0, points_redeemed_fen=0,
                   payable_fen=total, points_earned=0, points_redeemed=0, points_shortfall=0, receipt={},
                   business_date=local.date(), created_at=at, recorded_at=at)
        chunk.txns.append(txn)
        chunk.items.extend(lines)
        txn["_lines"] = lines
        return txn

    written = 0
    for start in range(first, last, CHUNK_MEMBERS):
        chunk = _Chunk()
        size = min(CHUNK_MEMBERS, last - start)
        for k in range(start, start + size):
            member_id = next(ids.member)
            sales_days = sorted(pick_day() for _ in range(per_member[k]))
            joined = (sales_days[0] if sales_days else pick_day()) - timedelta(days=rng.randint(0, 120))
            home = rng.choices(range(len(stores)), weights=store_weights)[0]
            age = max(16, min(80, int(rng.gauss(34, 11))))
            birthday = None if rng.random() < 0.08 else date(today.year - age, rng.randint(1, 12), rng.randint(1, 28))
            consented = to_utc_naive(datetime.combine(joined, time(12, 0), tz))
            account_id, sv_account_id = next(ids.account), next(ids.account)
            chunk.accounts += [dict(id=account_id, member_id=member_id, kind="points", balance=0, updated_at=consented),
                               dict(id=sv_account_id, member_id=member_id, kind="stored_value", balance=0,
                                    updated_at=consented)]
            points = _Points(ids, chunk, account_id, tz)
            events: list[tuple[datetime, int, dict | None]] = [(moment(d), 0, None) for d in sales_days]
            events.sort(key=lambda e: e[0])
            spend: list[tuple[date, int]] = []
            pending_refunds: list[tuple[datetime, dict]] = []
            for local, _, _ in events:
                while pending_refunds and pending_refunds[0][0] <= local:
                    _refund(chunk, ids, points, *pending_refunds.pop(0), spend)
                points.expire_before(local.date())
                store_id = stores[home] if rng.random() < 0.7 else rng.choices(stores, weights=store_weights)[0]
                txn = purchase(chunk, member_id, store_id, local)
                day = local.date()
                if points.available(day) >= 1000 and rng.random() < 0.12:
                    use = min(points.available(day), rng.choice([500, 1000, 2000]),
                              txn["total_fen"] // settings.point_value_fen)
                    points.redeem(use, txn["id"], day, txn["created_at"])
                    txn["points_redeemed"] = use
                    txn["points_redeemed_fen"] = use * settings.point_value_fen
                    txn["payable_fen"] = txn["total_fen"] - txn["points_redeemed_fen"]
                earned = txn["payable_fen"] // 100
                if earned:
                    points.earn(earned, txn["id"], day, txn["created_at"], settings.points_expiry_months)
                    txn["points_earned"] = earned
                spend.append((day, txn["payable_fen"]))
                if not txn["points_redeemed"] and rng.random() < refund_rate:
                    when = local + timedelta(days=rng.randint(0, 3), hours=rng.randint(0, 3))
                    if when.date() < today:
                        pending_refunds.append((when, txn))
                        pending_refunds.sort(key=lambda r: r[0])
            for when, txn in pending_refunds:
                _refund(chunk, ids, points, when, txn, spend)
            points.expire_before(today)
            chunk.accounts[-2]["balance"] = points.balance
            since = add_months(today, -12)
            rolling = sum(fen for d, fen in spend if d > since)
            tier_id = next((tid for tid, threshold in reversed(tiers) if rolling >= threshold), tiers[0][0]) \
                if tiers else None
            expires = add_months(joined, 24)
            chunk.members.append(dict(
                id=member_id, card_no=cards[k], openid=f"bulk-openid-{member_id}", unionid=None,
                phone=f"15{member_id:09d}", name=rng.choice(SURNAMES) + rng.choice(GIVEN)
                + (rng.choice(GIVEN) if rng.random() < .5 else ""),
                gender=rng.choices(["female", "male", "unknown"], weights=[52, 40, 8])[0], birthday=birthday,
                district=rng.choice(DISTRICTS), occupation=rng.choice(OCCUPATIONS),
                education=rng.choices(EDUCATION, weights=[2, 3, 5, 2, 1])[0],
                income_band=rng.choices(INCOME, weights=[2, 4, 5, 3, 1])[0], home_store_id=stores[home],
                referrer_id=None, tier_id=tier_id, tier_until=None,
                group_id=groups[k % len(groups)] if groups and k % 97 == 0 else None,
                status="active" if expires >= today else "expired", followed=rng.random() < 0.85, joined_on=joined,
                expires_on=expires, created_at=consented, updated_at=consented,
                privacy_version=settings.privacy_notice_version, privacy_consented_at=consented,
                marketing_consent=rng.random() < 0.6, closed_at=None))
            chunk.consents.append(dict(member_id=member_id, kind="privacy", version=settings.privacy_notice_version,
                                       granted=True, channel="staff", staff_id=None, at=consented))
        for _ in range(_walk_in_share(walk_ins, members, start, start + size)):
            purchase(chunk, None, rng.choices(stores, weights=store_weights)[0], moment(pick_day()))
        for txn in chunk.txns:
            txn.pop("_lines", None)
        chunk.write(session)
        session.flush()
        if totals is not None:
            _add_up(chunk, totals)
        written += size
        yield written


def _add_up(chunk: _Chunk, totals: Totals) -> None:
    """A chunk's sales and points entries into the rollups, as the roll-up reads them from the tables."""
    people = {m["id"]: m for m in chunk.members}
    sales, stores = [], {}
    for t in chunk.txns:
        m = people.get(t["member_id"]) or {}
        stores[t["id"]] = t["store_id"]
        sales.append(Sale(t["id"], t["kind"], t["store_id"], t["member_id"], t["business_date"], t["created_at"],
                          t["recorded_at"], t["payable_fen"], t["points_earned"], t["points_redeemed"],
                          m.get("tier_id"), m.get("gender"), m.get("birthday"), m.get("district"),
                          m.get("occupation"), m.get("education"), m.get("income_band"), m.get("group_id")))
    lines: dict[int, list[Line]] = {}
    for it in chunk.items:
        lines.setdefault(it["transaction_id"], []).append(
            Line(it["transaction_id"], it["category"], it["sku"], it["qty"], it["amount_fen"], it["discount_fen"]))
    sales.sort(key=operator.attrgetter("id"))
    totals.add_sales(sales, lines)
    totals.add_ledger([(e["id"], e["amount"], e["cause"], e["created_at"], "points", stores.get(e["transaction_id"]))
                       for e in chunk.entries])


def _refund(chunk: _Chunk, ids: _Ids, points: _Points, local: datetime, purchase: dict,
            spend: list[tuple[date, int]]) -> None:
    """The whole purchase brought back: its money, its lines, and the points it earned."""
    refund_id = next(ids.txn)
    at = to_utc_naive(local)
    shortfall = points.claw_back(purchase["points_earned"], purchase["id"], refund_id, at) \
        if purchase["points_earned"] else 0
    payable = purchase["payable_fen"] - shortfall  # points already spent are paid for out of the refund
    chunk.txns.append(dict(id=refund_id, kind="refund", store_id=purchase["store_id"], member_id=purchase["member_id"],
                           staff_id=None, original_id=purchase["id"], payment_method=purchase["payment_method"],
                           total_fen=purchase["total_fen"], discount_fen=0, points_redeemed_fen=0,
                           payable_fen=payable, points_earned=-(purchase["points_earned"] - shortfall),
                           points_redeemed=0, points_shortfall=shortfall, receipt={}, business_date=local.date(),
                           created_at=at, recorded_at=at))
    for line in purchase["_lines"]:
        line["refunded_qty"] = line["qty"]
        chunk.items.append(dict(id=next(ids.item), transaction_id=refund_id, line_no=line["line_no"], sku=line["sku"],
                                category=line["category"], qty=line["qty"], unit_price_fen=line["unit_price_fen"],
                                amount_fen=line["amount_fen"], discount_fen=0, refunded_qty=0))
    spend.append((local.date(), -payable))
