"""Reports at scale (issue 16): every dashboard breakdown and standard report for a one-year
range, each beside the plain SQL aggregate over the raw tables on the same database; the RFM
classification of all members; an XLSX export of 100,000 rows.

    WXCRM_ENV=development WXCRM_DATABASE_URL='mysql+pymysql://root@127.0.0.1/wx_bench16?charset=utf8mb4' \\
        python bench/reports_bench.py            # after seed-demo --members 100000 --transactions 1000000

Each figure is the best of --repeat runs (a shared machine's noise only ever adds). The last
line is exactly:
reports_bench members=N transactions=N max_report_ms=N rfm_ms=N xlsx_100k_s=N ratio_vs_sql=N
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from datetime import date, timedelta

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sqlalchemy import text  # noqa: E402

from wxcrm import create_app  # noqa: E402
from wxcrm.analytics import reports, standard  # noqa: E402
from wxcrm.analytics.reports import Filters  # noqa: E402
from wxcrm.config import settings_for  # noqa: E402
from wxcrm.extensions import db  # noqa: E402

NET = "SUM(CASE WHEN t.kind = 'refund' THEN -t.payable_fen ELSE t.payable_fen END)"
RANGE = "t.business_date BETWEEN :a AND :b"
# The plain SQL aggregate each report answers, over the raw tables (MySQL/MariaDB dialect).
SQL = {
    "day": f"SELECT t.business_date, {NET} FROM transactions t WHERE {RANGE} GROUP BY t.business_date",
    "week": f"SELECT YEARWEEK(t.business_date, 3), {NET} FROM transactions t WHERE {RANGE} GROUP BY 1",
    "month": f"SELECT DATE_FORMAT(t.business_date, '%Y-%m'), {NET} FROM transactions t WHERE {RANGE} GROUP BY 1",
    "weekday": f"SELECT WEEKDAY(t.business_date), {NET} FROM transactions t WHERE {RANGE} GROUP BY 1",
    "hour": f"SELECT HOUR(CONVERT_TZ(t.created_at, '+00:00', '+08:00')), {NET} FROM transactions t "
            f"WHERE {RANGE} GROUP BY 1",
    "store": f"SELECT t.store_id, {NET} FROM transactions t WHERE {RANGE} GROUP BY t.store_id",
    "store_kind": f"SELECT s.kind, {NET} FROM transactions t JOIN stores s ON s.id = t.store_id WHERE {RANGE} "
                  "GROUP BY s.kind",
    "tier": f"SELECT m.tier_id, {NET} FROM transactions t LEFT JOIN members m ON m.id = t.member_id "
            f"WHERE {RANGE} GROUP BY m.tier_id",
    "category": "SELECT i.category, SUM(CASE WHEN t.kind = 'refund' THEN -i.amount_fen ELSE i.amount_fen END) "
                f"FROM transaction_items i JOIN transactions t ON t.id = i.transaction_id WHERE {RANGE} "
                "GROUP BY i.category",
    "sku": "SELECT i.sku, SUM(CASE WHEN t.kind = 'refund' THEN -i.amount_fen ELSE i.amount_fen END) "
           f"FROM transaction_items i JOIN transactions t ON t.id = i.transaction_id WHERE {RANGE} GROUP BY i.sku",
    "totals": f"SELECT {NET}, SUM(t.kind = 'purchase'), COUNT(DISTINCT t.member_id) FROM transactions t "
              f"WHERE {RANGE}",
    "new_members": "SELECT joined_on, home_store_id, COUNT(*) FROM members WHERE joined_on BETWEEN :a AND :b "
                   "GROUP BY joined_on, home_store_id",
    "transactions": f"SELECT t.business_date, t.store_id, SUM(t.kind = 'purchase'), {NET} FROM transactions t "
                    f"WHERE {RANGE} GROUP BY t.business_date, t.store_id",
    "points": "SELECT DATE(e.created_at), t.store_id, e.cause, SUM(e.amount) FROM ledger_entries e "
              "JOIN ledger_accounts a ON a.id = e.account_id LEFT JOIN transactions t ON t.id = e.transaction_id "
              "WHERE a.kind = 'points' AND e.created_at BETWEEN :a AND :b GROUP BY 1, 2, 3",
    "stored_value": "SELECT DATE(e.created_at), e.cause, SUM(e.amount) FROM ledger_entries e "
                    "JOIN ledger_accounts a ON a.id = e.account_id WHERE a.kind = 'stored_value' "
                    "AND e.created_at BETWEEN :a AND :b GROUP BY 1, 2",
    "coupons": "SELECT DATE(c.issued_at), c.template_id, COUNT(*) FROM coupons c WHERE c.issued_at BETWEEN :a AND :b "
               "GROUP BY 1, 2 UNION ALL SELECT DATE(c.used_at), c.template_id, COUNT(*) FROM coupons c "
               "WHERE c.used_at BETWEEN :a AND :b AND c.status = 'used' GROUP BY 1, 2",
    "settlement": "SELECT DATE_FORMAT(e.created_at, '%Y-%m'), l.store_id, t.store_id, SUM(mv.principal), SUM(mv.bonus) "
                  "FROM stored_value_movements mv JOIN ledger_entries e ON e.id = mv.entry_id "
                  "JOIN stored_value_lots l ON l.id = mv.lot_id JOIN transactions t ON t.id = e.transaction_id "
                  "WHERE e.cause IN ('purchase', 'refund') AND e.created_at BETWEEN :a AND :b GROUP BY 1, 2, 3",
    "pivot store x month": f"SELECT t.store_id, DATE_FORMAT(t.business_date, '%Y-%m'), {NET} FROM transactions t "
                           f"WHERE {RANGE} GROUP BY 1, 2",
    "rfm": "SELECT member_id, MAX(business_date), COUNT(*), SUM(payable_fen) FROM transactions "
           "WHERE kind = 'purchase' AND member_id IS NOT NULL GROUP BY member_id",
}
for attr, col in (("gender", "gender"), ("age", "YEAR(t.business_date) - YEAR(m.birthday)"),
                  ("district", "district"), ("occupation", "occupation"), ("education", "education"),
                  ("income", "income_band"), ("group", "group_id")):
    SQL[attr] = (f"SELECT {col if '(' in col else 'm.' + col}, {NET} FROM transactions t "
                 f"JOIN members m ON m.id = t.member_id WHERE {RANGE} GROUP BY 1")


def best_ms(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - t) * 1000)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--xlsx-rows", type=int, default=100_000)
    ap.add_argument("--sql-for-slowest-only", action="store_true",
                    help="Time the plain SQL aggregate of the slowest report only (at 10,000,000 transactions each "
                         "aggregate over the raw rows takes seconds; the reports do not)")
    args = ap.parse_args()
    os.environ.setdefault("WXCRM_ENV", "development")
    app = create_app()
    with app.app_context():
        s = db.session
        if s.get_bind().dialect.name not in ("mysql", "mariadb"):
            sys.exit("reports_bench runs on MariaDB/MySQL (set WXCRM_DATABASE_URL)")
        members = s.execute(text("SELECT COUNT(*) FROM members")).scalar()
        transactions = s.execute(text("SELECT COUNT(*) FROM transactions")).scalar()
        last = s.execute(text("SELECT MAX(business_date) FROM transactions")).scalar() or date.today()
        settings = settings_for(app)
        f = Filters(last - timedelta(days=364), last, settings=settings)
        bind = {"a": f.start, "b": f.end}
        print(f"reports over {f.start} .. {f.end} ({members} members, {transactions} transactions); "
              f"best of {args.repeat}; ms")
        print(f"{'report':<24}{'report ms':>10}{'sql ms':>10}{'ratio':>8}")
        runs = []
        cases = [(dim, lambda dim=dim: reports.breakdown(s, f, dim)) for dim in reports.DIMENSIONS]
        cases.append(("totals", lambda: reports.totals(s, f)))
        for code, rep in standard.REPORTS.items():
            if not rep.detail:
                cases.append((code, lambda rep=rep: list(rep.rows(s, f, "month"))))
        cases.append(("pivot store x month", lambda: reports.pivot(s, f, "store", "month", "spend")))
        def sql_time(name: str) -> float:
            return best_ms(lambda: s.execute(text(SQL[name]), bind).all(), args.repeat)

        for name, fn in cases:
            ms = best_ms(fn, args.repeat)
            if args.sql_for_slowest_only:
                runs.append((name, ms, float("nan")))
                print(f"{name:<24}{ms:>10.1f}", flush=True)
                continue
            sql_ms = sql_time(name)
            runs.append((name, ms, sql_ms))
            print(f"{name:<24}{ms:>10.1f}{sql_ms:>10.1f}{ms / sql_ms:>8.2f}", flush=True)
        if args.sql_for_slowest_only:
            name, ms, _ = max(runs, key=lambda r: r[1])
            runs[[r[0] for r in runs].index(name)] = (name, ms, sql_time(name))
        # The cost grows with the range asked, not with the history stored.
        scaling = []
        for days in (30, 91, 365, 730):
            g = Filters(last - timedelta(days=days - 1), last, settings=settings)
            scaling.append(f"{days}d {best_ms(lambda g=g: list(standard.get('transactions').rows(s, g, 'day')), args.repeat):.1f}")
        print("transactions report by range (ms): " + ", ".join(scaling))
        rfm_ms = best_ms(lambda: reports.rfm(s, last), args.repeat)
        rfm_sql = float("nan") if args.sql_for_slowest_only else best_ms(
            lambda: s.execute(text(SQL["rfm"])).all(), 1)
        print(f"{'rfm (all members)':<24}{rfm_ms:>10.1f}{rfm_sql:>10.1f}{rfm_ms / rfm_sql:>8.2f}")
        # The export a marketer makes: the detail report of the latest days holding --xlsx-rows
        # transactions, read to its end (the range is cut at the day that reaches the count,
        # and the rows written stop at the count: a few hundred rows of that day are left).
        detail = standard.get("transaction_detail")
        headers = [c.label for c in detail.columns]
        held, start = 0, last
        for day, count in s.execute(text(
                "SELECT business_date, COUNT(*) FROM transactions WHERE business_date BETWEEN :a AND :b "
                "GROUP BY business_date ORDER BY business_date DESC"), {"a": last - timedelta(days=3650), "b": last}):
            held, start = held + count, day
            if held >= args.xlsx_rows:
                break
        g = Filters(start, last, settings=settings)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            rows = detail.rows(s, g, "day")
            n = standard.write_xlsx(detail, itertools.islice(rows, args.xlsx_rows), headers,
                                    os.path.join(tmp, "detail.xlsx"))
            rows.close()
            xlsx_s = time.perf_counter() - t
        print(f"xlsx export of {n} rows ({start} .. {last}, {held} transactions): {xlsx_s:.2f} s")
        slowest = max(runs, key=lambda r: r[1])
        print(f"slowest report: {slowest[0]} {slowest[1]:.1f} ms, its SQL aggregate {slowest[2]:.1f} ms")
        print(f"reports_bench members={members} transactions={transactions} max_report_ms={round(slowest[1])} "
              f"rfm_ms={round(rfm_ms)} xlsx_100k_s={xlsx_s:.2f} ratio_vs_sql={slowest[1] / slowest[2]:.2f}")


if __name__ == "__main__":
    main()
