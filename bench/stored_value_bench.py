"""Stored value under load, in one process: counter top-ups, and purchases paid partly with
stored value (split tenders), from several threads at once through the real API.

    WXCRM_BENCH_DB=wx_bench13 python bench/stored_value_bench.py [--members 200] [--ops 400] [--threads 8]

Drops and rebuilds the MariaDB database ``WXCRM_BENCH_DB`` (root@127.0.0.1), loads the demo's
programme (bonus steps included), then runs three profiles: ``topup`` (POST /api/v1/topups),
``split`` (POST /api/v1/transactions with ``payments: [stored_value, cash]``) and ``cash`` (the same
sale in cash alone, the baseline), each ``--ops``
requests over ``--threads`` threads, and checks that every acknowledged fen is in the
ledger (audit clean, balances = top-ups + bonus - stored value spent). The last line is
machine-readable. (The wrk-based till bench of issue 11, bench/load, gets the same two
profiles when it lands.)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=200)
    ap.add_argument("--ops", type=int, default=400)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    name = os.environ.get("WXCRM_BENCH_DB", "wx_bench13")
    import pymysql
    conn = pymysql.connect(host="127.0.0.1", user="root")
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()
    url = f"mysql+pymysql://root@127.0.0.1/{name}?charset=utf8mb4"
    os.environ.update(WXCRM_ENV="development", WXCRM_DATABASE_URL=url, WXCRM_MEMBER_LOOKUP_LIMIT="1000000 per minute")

    from flask_migrate import upgrade

    from wxcrm import create_app
    from wxcrm.demo import STORES, _seed_rules
    from wxcrm.extensions import db
    from wxcrm.ledger import service as ledger
    from wxcrm.members import service as members

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False})
    with app.app_context():
        upgrade()
        for code, store_name, kind, city, address in STORES:
            members.create_store(db.session, code=code, name=store_name, kind=kind, city=city, address=address)
        _seed_rules(db.session)
        cashier = members.create_staff(db.session, username="bench", password="bench-pass-123", role="manager",
                                       store_code="S001")
        token = members.create_token(db.session, cashier)
        cards = [members.create_member(db.session, card_prefix="8800", today=__import__("datetime").date(2026, 1, 1),
                                       phone=f"139{i:08d}", privacy_version="2026-01").card_no
                 for i in range(args.members)]
        db.session.commit()

    headers = {"Authorization": f"Bearer {token}"}

    def post(path: str, body: dict) -> tuple[int, float]:
        with app.test_client() as c:
            started = time.perf_counter()
            r = c.post(path, json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
            return r.status_code, time.perf_counter() - started

    def topup(i: int):
        return post("/api/v1/topups", {"store_code": "S001", "member": {"card_no": cards[i % len(cards)]},
                                       "amount_fen": 50_000, "method": "cash"})

    def split(i: int):
        return post("/api/v1/transactions", {
            "store_code": "S001", "member": {"card_no": cards[i % len(cards)]},
            "items": [{"sku": "TEA-001", "category": "tea", "qty": 1, "unit_price_fen": 10_000}],
            "payments": [{"method": "stored_value", "amount_fen": 3_000}, {"method": "cash"}]})

    def cash(i: int):            # the same sale paid in cash alone: the baseline
        return post("/api/v1/transactions", {
            "store_code": "S001", "member": {"card_no": cards[i % len(cards)]},
            "items": [{"sku": "TEA-001", "category": "tea", "qty": 1, "unit_price_fen": 10_000}],
            "payment_method": "cash"})

    figures = {}
    for profile, fn in (("topup", topup), ("split", split), ("cash", cash)):
        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            results = list(pool.map(fn, range(args.ops)))
        wall = time.perf_counter() - started
        lat = sorted(t for _, t in results)
        ok = sum(1 for s, _ in results if s == 201)
        figures[profile] = {"ok": ok, "errors": args.ops - ok, "rps": args.ops / wall,
                            "p50_ms": statistics.median(lat) * 1000, "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000}
        print(f"{profile:6s} ok={ok} errors={args.ops - ok} rps={figures[profile]['rps']:.1f} "
              f"p50={figures[profile]['p50_ms']:.1f}ms p99={figures[profile]['p99_ms']:.1f}ms")

    with app.app_context():
        problems = ledger.audit(db.session)
        from sqlalchemy import func, select

        from wxcrm.ledger.models import LedgerAccount
        from wxcrm.sales.models import TransactionPayment
        from wxcrm.topups.models import Topup
        balance = db.session.scalar(select(func.sum(LedgerAccount.balance)).where(LedgerAccount.kind == "stored_value"))
        paid_in = db.session.scalar(select(func.sum(Topup.amount_fen + Topup.bonus_fen)))
        spent = db.session.scalar(select(func.sum(TransactionPayment.amount_fen))
                                  .where(TransactionPayment.method == "stored_value"))
        traced = int(balance or 0) == int(paid_in or 0) - int(spent or 0)
    print(f"stored_value_bench topup_rps={figures['topup']['rps']:.1f} split_rps={figures['split']['rps']:.1f} "
          f"cash_rps={figures['cash']['rps']:.1f} "
          f"topup_p99_ms={figures['topup']['p99_ms']:.1f} split_p99_ms={figures['split']['p99_ms']:.1f} "
          f"errors={figures['topup']['errors'] + figures['split']['errors']} audit_problems={len(problems)} "
          f"traced={traced}")


if __name__ == "__main__":
    main()
