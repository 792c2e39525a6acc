"""Issue 16: every figure a report shows agrees with an independent computation over the raw
tables: a plain SQL query written here (or plain Python over rows it fetched), never the
report code run twice."""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from wxcrm.analytics import reports, rollup, standard
from wxcrm.analytics.models import (
    BuyerDay,
    BuyerDayCount,
    LedgerDaily,
    MemberSummary,
    SalesDaily,
    Watermark,
)
from wxcrm.analytics.reports import Filters
from wxcrm.checkout import service as checkout
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.ledger.models import LedgerEntry
from wxcrm.sales.models import Transaction
from wxcrm.timeutil import Clock

from .conftest import TODAY

TZ = ZoneInfo("Asia/Shanghai")
YEAR = Filters(TODAY - timedelta(days=364), TODAY - timedelta(days=1))


def sql(query: str, **params):
    return db.session.execute(text(query), params).all()


def raw_sales(f: Filters):
    """Every transaction of the range with its member's attributes, by plain SQL."""
    return sql("""SELECT t.id, t.kind, t.store_id, t.member_id, t.business_date, t.created_at, t.payable_fen,
                         m.gender, m.birthday, m.tier_id
                  FROM transactions t LEFT JOIN members m ON m.id = t.member_id
                  WHERE t.business_date BETWEEN :a AND :b""", a=f.start, b=f.end)


def as_date(v):
    return v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def test_the_bulk_history_keeps_the_ledgers_invariants_and_has_the_shape_asked(shop):
    assert ledger.audit(db.session) == []
    counts = dict(sql("SELECT kind, COUNT(*) FROM transactions GROUP BY kind"))
    assert counts["purchase"] == 3000 and 0 < counts["refund"] < 300
    assert sql("SELECT COUNT(*) FROM members")[0][0] == 300
    causes = {c for (c,) in sql("SELECT DISTINCT cause FROM ledger_entries")}
    assert {"purchase", "redeem", "refund", "expiry"} <= causes
    # Every purchase's points are a ledger entry and a lot.
    assert sql("""SELECT COUNT(*) FROM transactions t WHERE t.kind = 'purchase' AND t.points_earned > 0 AND NOT EXISTS
                  (SELECT 1 FROM points_lots l WHERE l.transaction_id = t.id)""")[0][0] == 0
    # Seasonality: December sells more than the quiet February.
    by_month = Counter(as_date(d).month for (d,) in sql("SELECT business_date FROM transactions"))
    assert by_month[12] > by_month[2]


def test_totals_and_the_previous_period_agree_with_sql(shop):
    for f in (YEAR, YEAR.previous(), Filters(date(2026, 3, 1), date(2026, 3, 31))):
        got = reports.totals(db.session, f)
        spend, visits, members = sql("""
            SELECT SUM(CASE WHEN kind = 'refund' THEN -payable_fen ELSE payable_fen END),
                   SUM(CASE WHEN kind = 'purchase' THEN 1 ELSE 0 END),
                   COUNT(DISTINCT CASE WHEN kind = 'purchase' THEN member_id END)
            FROM transactions WHERE business_date BETWEEN :a AND :b""", a=f.start, b=f.end)[0]
        assert (got["spend"], got["visits"], got["members"]) == (int(spend or 0), int(visits or 0), members)
        assert got["basket"] == (int(spend) // int(visits) if visits else 0)


def test_where_by_store_and_store_kind_with_a_store_filter(shop):
    by_store = reports.breakdown(db.session, YEAR, "store")
    expected = {str(s): int(v) for s, v in sql("""
        SELECT store_id, SUM(CASE WHEN kind = 'refund' THEN -payable_fen ELSE payable_fen END)
        FROM transactions WHERE business_date BETWEEN :a AND :b GROUP BY store_id""", a=YEAR.start, b=YEAR.end)}
    assert {k: v["spend"] for k, v in by_store.items()} == expected
    kinds = reports.breakdown(db.session, YEAR, "store_kind")
    expected_kinds = {k: int(v) for k, v in sql("""
        SELECT s.kind, SUM(CASE WHEN t.kind = 'purchase' THEN 1 ELSE 0 END) FROM transactions t
        JOIN stores s ON s.id = t.store_id WHERE t.business_date BETWEEN :a AND :b GROUP BY s.kind""",
        a=YEAR.start, b=YEAR.end)}
    assert {k: v["visits"] for k, v in kinds.items()} == expected_kinds
    one = shop["stores"][3].id
    f = Filters(YEAR.start, YEAR.end, store_ids=(one,))
    assert reports.totals(db.session, f)["spend"] == expected[str(one)]


def test_who_by_gender_and_age_with_a_tier_filter(shop):
    gold = shop["tiers"][0].id
    f = Filters(YEAR.start, YEAR.end, tier_ids=(gold,))
    gender = defaultdict(int)
    age = defaultdict(int)
    for row in raw_sales(f):
        if row.member_id is None or row.tier_id != gold:
            continue
        sign = -1 if row.kind == "refund" else 1
        gender[row.gender] += sign * row.payable_fen
        if row.birthday is None:
            band = ""
        else:
            years = as_date(row.business_date).year - as_date(row.birthday).year
            band = ("<18" if years < 18 else "18-24" if years <= 24 else "25-34" if years <= 34 else "35-44"
                    if years <= 44 else "45-54" if years <= 54 else "55+")
        age[band] += sign * row.payable_fen
    assert {k: v["spend"] for k, v in reports.breakdown(db.session, f, "gender").items()} == dict(gender)
    assert {k: v["spend"] for k, v in reports.breakdown(db.session, f, "age").items()} == dict(age)


def test_when_by_hour_weekday_and_month_in_the_merchants_time_zone(shop):
    hours, weekdays, months = defaultdict(int), defaultdict(int), defaultdict(int)
    for row in raw_sales(YEAR):
        if row.kind != "purchase":
            continue
        created = row.created_at if isinstance(row.created_at, datetime) else datetime.fromisoformat(str(row.created_at))
        local = created.replace(tzinfo=ZoneInfo("UTC")).astimezone(TZ)
        hours[str(local.hour)] += 1
        weekdays[str(as_date(row.business_date).weekday())] += 1
        months[as_date(row.business_date).strftime("%Y-%m")] += 1
    assert {k: v["visits"] for k, v in reports.breakdown(db.session, YEAR, "hour").items() if v["visits"]} == hours
    assert {k: v["visits"] for k, v in reports.breakdown(db.session, YEAR, "weekday").items()} == weekdays
    assert {k: v["visits"] for k, v in reports.breakdown(db.session, YEAR, "month").items()} == months


def test_what_by_category_from_the_lines(shop):
    expected = {c: int(v) for c, v in sql("""
        SELECT i.category, SUM(CASE WHEN t.kind = 'refund' THEN -(i.amount_fen - i.discount_fen)
                                    ELSE i.amount_fen - i.discount_fen END)
        FROM transaction_items i JOIN transactions t ON t.id = i.transaction_id
        WHERE t.business_date BETWEEN :a AND :b GROUP BY i.category""", a=YEAR.start, b=YEAR.end)}
    assert {k: v["spend"] for k, v in reports.breakdown(db.session, YEAR, "category").items()} == expected


def test_pivot_members_by_gender_and_age_counts_distinct_buyers(shop):
    cells = reports.pivot(db.session, YEAR, "gender", "store", "members")
    expected = {(g, str(s)): n for g, s, n in sql("""
        SELECT m.gender, t.store_id, COUNT(DISTINCT t.member_id) FROM transactions t JOIN members m ON m.id = t.member_id
        WHERE t.kind = 'purchase' AND t.business_date BETWEEN :a AND :b GROUP BY m.gender, t.store_id""",
        a=YEAR.start, b=YEAR.end)}
    assert {k: v for k, v in cells.items() if v} == expected
    # Spend per month and store from the rollup.
    cells = reports.pivot(db.session, YEAR, "month", "store", "spend")
    raw = defaultdict(int)
    for row in raw_sales(YEAR):
        raw[(as_date(row.business_date).strftime("%Y-%m"), str(row.store_id))] += \
            -row.payable_fen if row.kind == "refund" else row.payable_fen
    assert cells == dict(raw)


def test_a_drill_down_lists_exactly_the_members_behind_a_cell(shop):
    store = shop["stores"][0].id
    cell = {"gender": "female", "store": str(store)}
    got = reports.drill_down(db.session, YEAR, cell, TZ, limit=10_000)
    expected = {m for (m,) in sql("""
        SELECT DISTINCT t.member_id FROM transactions t JOIN members m ON m.id = t.member_id
        WHERE m.gender = 'female' AND t.store_id = :s AND t.business_date BETWEEN :a AND :b""",
        s=store, a=YEAR.start, b=YEAR.end)}
    assert {m.id for m, _p, _s in got.members} == expected and got.member_count == len(expected)
    assert all(t.store_id == store for t in got.transactions)
    weekday = reports.drill_down(db.session, YEAR, {"weekday": "5", "hour": "12"}, TZ, limit=10_000)
    for t in weekday.transactions:
        local = t.created_at.replace(tzinfo=ZoneInfo("UTC")).astimezone(TZ)
        assert t.business_date.weekday() == 5 and local.hour == 12


def test_standard_reports_agree_with_sql(shop):
    rows = list(standard.get("transactions").rows(db.session, YEAR, "month"))
    by_month = defaultdict(int)
    for period, _store, purchases, *_rest in rows:
        by_month[period] += purchases
    expected = defaultdict(int)
    for (d,) in sql("SELECT business_date FROM transactions WHERE kind = 'purchase' AND business_date BETWEEN :a AND :b",
                    a=YEAR.start, b=YEAR.end):
        expected[as_date(d).strftime("%Y-%m")] += 1
    assert dict(by_month) == dict(expected)

    new = sum(r[2] for r in standard.get("new_members").rows(db.session, YEAR, "week"))
    assert new == sql("SELECT COUNT(*) FROM members WHERE joined_on BETWEEN :a AND :b", a=YEAR.start, b=YEAR.end)[0][0]

    points = list(standard.get("points").rows(db.session, YEAR, "month"))
    issued = sum(r[2] for r in points)
    redeemed = sum(r[3] for r in points)
    expired = sum(r[4] for r in points)
    a = datetime.combine(YEAR.start, time(0), TZ).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    b = datetime.combine(YEAR.end + timedelta(days=1), time(0), TZ).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    by_cause = {c: (int(cr or 0), int(db_ or 0)) for c, cr, db_ in sql("""
        SELECT e.cause, SUM(CASE WHEN e.amount > 0 THEN e.amount ELSE 0 END), SUM(CASE WHEN e.amount < 0 THEN -e.amount ELSE 0 END)
        FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
        WHERE a.kind = 'points' AND e.created_at >= :a AND e.created_at < :b GROUP BY e.cause""", a=a, b=b)}
    assert issued == sum(cr for cr, _ in by_cause.values())
    assert redeemed == by_cause.get("redeem", (0, 0))[1]
    assert expired == by_cause.get("expiry", (0, 0))[1] and expired > 0


def test_rfm_puts_every_buying_member_in_one_segment(shop):
    segments = reports.rfm(db.session, TODAY)
    buyers = sql("SELECT COUNT(DISTINCT member_id) FROM transactions WHERE kind = 'purchase' AND member_id IS NOT NULL")
    assert sum(segments.values()) == buyers[0][0]
    assert segments["champions"] > 0 and segments["lost"] > 0
    # The same classification by hand over the raw transactions.
    per = {m: (as_date(last), n, int(net)) for m, last, n, net in sql("""
        SELECT member_id, MAX(CASE WHEN kind = 'purchase' THEN business_date END),
               SUM(CASE WHEN kind = 'purchase' THEN 1 ELSE 0 END),
               SUM(CASE WHEN kind = 'refund' THEN -payable_fen ELSE payable_fen END)
        FROM transactions WHERE member_id IS NOT NULL GROUP BY member_id""")}
    recency = sorted((TODAY - last).days for last, _n, _m in per.values())
    freq = sorted(n for _l, n, _m in per.values())
    money = sorted(m for _l, _n, m in per.values())
    half = len(per) // 2
    names = {(1, 1, 1): "champions", (1, 1, 0): "loyal", (1, 0, 1): "potential", (1, 0, 0): "new",
             (0, 1, 1): "cant_lose", (0, 1, 0): "at_risk", (0, 0, 1): "hibernating", (0, 0, 0): "lost"}
    expected = Counter(names[((TODAY - last).days <= recency[half], n > freq[half], m > money[half])]
                       for last, n, m in per.values())
    assert {k: v for k, v in segments.items() if v} == dict(expected)


def test_the_job_rolls_up_new_sales_once_and_a_rebuild_gives_the_same_rows(shop, settings, make):
    before = reports.totals(db.session, Filters(TODAY, TODAY))
    store = shop["stores"][0]
    clock = Clock.local_moment(datetime.combine(TODAY, time(11, 0), settings.tz))
    checkout.ring_up_purchase(db.session, store_code=store.code, settings=settings, clock=clock, notify=False,
                              items=[{"sku": "TEA-001", "category": "tea", "qty": 2, "unit_price_fen": 1800}])
    db.session.commit()
    assert reports.totals(db.session, Filters(TODAY, TODAY))["visits"] == before["visits"]  # not inside the sale
    assert rollup.roll_up(db.session, settings, lag_seconds=0) == 1
    assert rollup.roll_up(db.session, settings, lag_seconds=0) == 0      # the watermark moved: nothing twice
    db.session.commit()
    after = reports.totals(db.session, Filters(TODAY, TODAY))
    assert after["visits"] == before["visits"] + 1 and after["spend"] == before["spend"] + 3600

    def snapshot():
        return [sorted(tuple(r) for r in db.session.execute(
            db.select(*(c for c in model.__table__.columns if c.name != "id"))))
                for model in (SalesDaily, BuyerDay, BuyerDayCount, MemberSummary, LedgerDaily)]
    # Every rollup row the job adds up batch by batch from nothing (small batches, so rows are
    # added into again and again) is the row a rebuild makes (on MariaDB: set-based SQL).
    for model in (SalesDaily, LedgerDaily, MemberSummary, BuyerDay, BuyerDayCount, Watermark):
        db.session.execute(db.delete(model))
    while rollup.roll_up_sales(db.session, settings, batch=7, lag_seconds=0):
        pass
    while rollup.roll_up_ledger(db.session, settings, batch=11, lag_seconds=0):
        pass
    db.session.commit()
    incremental = snapshot()
    assert all(incremental)
    rollup.rebuild(db.session, settings)
    db.session.commit()
    rebuilt = snapshot()
    for name, a, b in zip(("sales", "buyer days", "buyer-day counts", "members", "ledger"), incremental, rebuilt):
        assert a == b, (name, sorted(set(a) ^ set(b))[:10])


def rollup_rows() -> list[list[tuple]]:
    """Every rollup row (less its id) and where each watermark stands."""
    rows = [sorted(tuple(r) for r in db.session.execute(
        db.select(*(c for c in model.__table__.columns if c.name != "id"))))
        for model in (SalesDaily, BuyerDay, BuyerDayCount, MemberSummary, LedgerDaily)]
    return rows + [sorted(tuple(r) for r in db.session.execute(db.select(Watermark.name, Watermark.last_id)))]


def test_a_bulk_data_set_is_rolled_up_as_it_is_written_as_a_rebuild_would(app, settings):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["wxcrm", "seed-demo", "--members", "60", "--transactions", "700", "--days", "200"])
    assert r.exit_code == 0, r.output
    assert runner.invoke(args=["wxcrm", "audit"]).exit_code == 0
    seeded = rollup_rows()
    assert all(seeded) and seeded[-1] == [("ledger", db.session.scalar(db.select(db.func.max(LedgerEntry.id)))),
                                          ("sales", db.session.scalar(db.select(db.func.max(Transaction.id))))]
    rollup.rebuild(db.session, settings)
    db.session.commit()
    for name, a, b in zip(("sales", "buyer days", "counts", "members", "ledger", "marks"), seeded, rollup_rows()):
        assert a == b, (name, sorted(set(a) ^ set(b))[:10])


def test_a_data_set_written_in_parts_keeps_the_ledgers_and_rolls_up_as_a_rebuild_would(app, settings):
    """What ``seed-demo --parts 2`` runs in two processes, here one part after the other."""
    from wxcrm import demo
    from wxcrm.analytics import bulk
    from wxcrm.members.models import Member
    from wxcrm.members.service import reserve_card_numbers
    demo.seed(db.session, settings, members=0, days=1, seed=7)
    rollup.roll_up(db.session, settings, lag_seconds=0)   # the demo's own sales, as seed-demo does
    db.session.commit()
    plans = bulk.plan_parts(db.session, members=50, transactions=600, seed=5, parts=2)
    cards = reserve_card_numbers(db.session, settings.card_prefix, 50)
    for part in (1, 0):   # either order: each part has its own id blocks
        totals = rollup.Totals(settings.tz)
        for _ in bulk.seed_history(db.session, settings, members=50, transactions=600, days=200, seed=5, part=part,
                                   parts=2, bases=plans[part], cards=cards, totals=totals, today=TODAY):
            db.session.commit()
        totals.write(db.session, empty=False, new_members=True, marks=False)
        db.session.commit()
    rollup.move_watermarks(db.session, sales=db.session.scalar(db.select(db.func.max(Transaction.id))),
                           ledger=db.session.scalar(db.select(db.func.max(LedgerEntry.id))))
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(Member)) == 50
    assert sorted(db.session.scalars(db.select(Member.card_no))) == sorted(cards)
    assert 500 < db.session.scalar(db.select(db.func.count()).select_from(Transaction)) < 700
    result = app.test_cli_runner().invoke(args=["wxcrm", "audit"])
    assert result.exit_code == 0 and "all balances match" in result.output
    seeded = rollup_rows()
    rollup.rebuild(db.session, settings)
    db.session.commit()
    for name, a, b in zip(("sales", "buyer days", "counts", "members", "ledger", "marks"), seeded, rollup_rows()):
        assert a == b, (name, sorted(set(a) ^ set(b))[:10])


def test_the_job_adds_nothing_on_top_of_a_rebuild_that_stopped_half_way(shop, settings):
    clock = Clock.local_moment(datetime.combine(TODAY, time(12, 0), settings.tz))
    checkout.ring_up_purchase(db.session, store_code=shop["stores"][0].code, settings=settings, clock=clock,
                              notify=False, items=[{"sku": "TEA-001", "category": "tea", "qty": 1,
                                                    "unit_price_fen": 1800}])
    db.session.commit()
    rows = db.session.scalar(db.select(db.func.count()).select_from(SalesDaily))
    # A rebuild that stopped after throwing the rollups away leaves its marks behind.
    db.session.execute(db.update(Watermark).values(last_id=rollup.REBUILDING))
    db.session.commit()
    assert rollup.roll_up(db.session, settings, lag_seconds=0) == 0
    assert db.session.scalar(db.select(db.func.count()).select_from(SalesDaily)) == rows
    rollup.rebuild(db.session, settings)
    db.session.commit()
    assert db.session.scalar(db.select(Watermark.last_id).where(Watermark.name == "sales")) < rollup.REBUILDING
    assert rollup.roll_up(db.session, settings, lag_seconds=0) == 0


def test_exports_write_every_row_to_csv_and_xlsx(shop, tmp_path):
    from openpyxl import load_workbook
    report = standard.get("transaction_detail")
    n = sql("SELECT COUNT(*) FROM transactions WHERE business_date BETWEEN :a AND :b", a=YEAR.start, b=YEAR.end)[0][0]
    headers = [c.label for c in report.columns]
    ids = [r[0] for r in sql("SELECT id FROM transactions WHERE business_date BETWEEN :a AND :b "
                             "ORDER BY business_date, id", a=YEAR.start, b=YEAR.end)]
    assert [row[0] for row in report.rows(db.session, YEAR, "day")] == ids        # every one, in date order
    text_out = "".join(standard.csv_chunks(report, report.rows(db.session, YEAR, "day"), headers))
    assert text_out.startswith("\ufeff") and len(text_out.strip().splitlines()) == n + 1
    path = tmp_path / "detail.xlsx"
    seen = []
    assert standard.write_xlsx(report, report.rows(db.session, YEAR, "day"), headers, path, progress=seen.append) == n
    assert sum(seen) == n
    ws = load_workbook(path, read_only=True).active
    assert sum(1 for _ in ws.iter_rows()) == n + 1


def test_a_range_reads_whole_months_from_the_monthly_rows_and_its_edge_days_from_the_daily_ones():
    assert reports.whole_months(Filters(date(2026, 3, 1), date(2026, 3, 31))) == (date(2026, 3, 1), date(2026, 3, 1))
    assert reports.whole_months(Filters(date(2026, 2, 15), date(2026, 5, 10))) == (date(2026, 3, 1), date(2026, 4, 1))
    assert reports.whole_months(Filters(date(2026, 3, 2), date(2026, 3, 31))) is None
    assert reports.whole_months(Filters(date(2025, 12, 31), date(2026, 2, 27))) == (date(2026, 1, 1), date(2026, 1, 1))


def test_ranges_across_month_edges_agree_with_sql(shop):
    for a, b in [(date(2026, 2, 15), date(2026, 5, 10)), (date(2025, 12, 31), date(2026, 2, 28)),
                 (date(2026, 4, 1), date(2026, 4, 1))]:
        f = Filters(a, b)
        spend = sql("SELECT SUM(CASE WHEN kind = 'refund' THEN -payable_fen ELSE payable_fen END) FROM transactions "
                    "WHERE business_date BETWEEN :a AND :b", a=a, b=b)[0][0]
        assert reports.totals(db.session, f)["spend"] == int(spend or 0)
        assert sum(v["spend"] for v in reports.breakdown(db.session, f, "gender").values()) + sum(
            -r.payable_fen if r.kind == "refund" else r.payable_fen for r in raw_sales(f) if r.member_id is None) \
            == int(spend or 0)


def _buyers_sql(f: Filters, stores=(), tier_ids=()):
    q = ("SELECT COUNT(DISTINCT t.member_id) FROM transactions t JOIN members m ON m.id = t.member_id "
         "WHERE t.kind = 'purchase' AND t.business_date BETWEEN :a AND :b")
    if stores:
        q += f" AND t.store_id IN ({', '.join(str(s) for s in stores)})"
    if tier_ids:
        q += f" AND m.tier_id IN ({', '.join(str(t) for t in tier_ids)})"
    return sql(q, a=f.start, b=f.end)[0][0]


def test_distinct_buyers_per_range_store_and_tier_agree_with_sql_also_after_a_late_earlier_sale(shop, settings):
    stores = [s.id for s in shop["stores"]]
    tiers = [t.id for t in shop["tiers"]]
    ranges = [YEAR, YEAR.previous(), Filters(date(2026, 2, 15), date(2026, 5, 10)), Filters(TODAY - timedelta(days=6),
                                                                                             TODAY)]

    def check():
        for f in ranges:
            for store_ids, tier_ids in (((), ()), ((stores[0],), ()), ((stores[3],), ()), ((stores[1], stores[4]), ()),
                                        ((), (tiers[0],)), ((stores[2],), (tiers[0], tiers[1]))):
                g = Filters(f.start, f.end, store_ids, tier_ids)
                assert reports.totals(db.session, g)["members"] == _buyers_sql(g, store_ids, tier_ids), (g,)
    check()
    # A sale recorded late, dated before days already rolled up (an offline till; an import):
    # the member's buyer days after it get their previous days anew.
    member_id, first = sql("SELECT member_id, MIN(business_date) FROM transactions WHERE member_id IS NOT NULL "
                           "AND kind = 'purchase' GROUP BY member_id ORDER BY COUNT(*) DESC LIMIT 1")[0]
    early = as_date(first) - timedelta(days=40)
    for day, store in ((early, stores[5]), (as_date(first) + timedelta(days=1), stores[5])):
        at = datetime.combine(day, time(4, 0))
        db.session.execute(text(
            "INSERT INTO transactions (kind, store_id, member_id, payment_method, total_fen, discount_fen, "
            "points_redeemed_fen, payable_fen, points_earned, points_redeemed, points_shortfall, receipt, "
            "business_date, created_at, recorded_at) VALUES ('purchase', :s, :m, 'cash', 1000, 0, 0, 1000, 0, 0, 0, "
            "'{}', :d, :at, :at)"), {"s": store, "m": member_id, "d": day, "at": at})
    db.session.commit()
    assert rollup.roll_up(db.session, settings, lag_seconds=0) == 2
    db.session.commit()
    ranges += [Filters(early, early), Filters(early, as_date(first)), Filters(early + timedelta(days=1),
                                                                              as_date(first) + timedelta(days=3))]
    check()


def test_the_xlsx_writer_keeps_numbers_money_and_awkward_text(tmp_path):
    from openpyxl import load_workbook
    report = standard.Report("t", "T", (standard.Column("a", "A", "text"), standard.Column("n", "N"),
                                        standard.Column("m", "M", "fen")), lambda *a: [])
    rows = [["门店 <S001> & \"一\"", 3, 12345], [" spaced ", -2, -5], ["bell\x07ok", None, 0], ["", 0, None]]
    path = tmp_path / "t.xlsx"
    assert standard.write_xlsx(report, iter(rows), ["甲", "乙", "丙"], path, title="报表") == 4
    ws = load_workbook(path).active
    assert ws.title == "报表" and ws["A1"].font.b
    got = [list(r) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert got == [["门店 <S001> & \"一\"", 3, 123.45], [" spaced ", -2, -0.05], ["bellok", None, 0],
                   ["", 0, None]]


@pytest.mark.parametrize("count, sheets", [(7, [3, 3, 1]), (6, [3, 3]), (0, [0])])
def test_an_export_past_excels_row_limit_goes_on_in_further_sheets_each_with_its_header(tmp_path, monkeypatch,
                                                                                       count, sheets):
    from openpyxl import load_workbook
    monkeypatch.setattr(standard, "SHEET_ROWS", 4)      # Excel's is 1,048,576, the header included
    report = standard.Report("t", "T", (standard.Column("n", "N"), standard.Column("m", "M", "fen")), lambda *a: [])
    path, seen = tmp_path / "t.xlsx", []
    rows = ([i, i * 100] for i in range(count))
    assert standard.write_xlsx(report, rows, ["序号", "金额"], path, title="交易明细" * 5,
                               progress=seen.append) == count
    assert sum(seen) == count
    wb = load_workbook(path)
    titles = ["交易明细" * 5] + [f"{'交易明细' * 5}"[:31 - len(f' ({k})')] + f" ({k})" for k in range(2, len(sheets) + 1)]
    assert [ws.title for ws in wb.worksheets] == [t[:31] for t in titles]
    got = []
    for ws, size in zip(wb.worksheets, sheets):
        values = list(ws.iter_rows(values_only=True))
        assert values[0] == ("序号", "金额") and ws["A1"].font.b and len(values) == size + 1
        got += values[1:]
    assert got == [(i, float(i)) for i in range(count)]
