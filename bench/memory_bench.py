"""A worker's memory over many purchases: the caches (tokens, staff, stores, tiers, rule
sets; ``wxcrm.members.cache``, ``wxcrm.rules.live``) are bounded, so resident memory after
100,000 purchases should stay within 20 % of after 1,000.

    WXCRM_DATABASE_URL='mysql+pymysql://root@127.0.0.1/wx_bench11?charset=utf8mb4' \\
        python bench/memory_bench.py [--purchases 100000] [--every 10000]

Runs in one process as one worker does (the app, its session, its caches), through Flask's
test client, against a database bench/load/run.sh prepared (its members and cashier). Each
purchase uses a new idempotency key, a random member and one of ``--tokens`` API tokens
(5,000 by default, made first: more than the token cache keeps, so it evicts all the time).
Prints the RSS after 1,000 purchases, at each checkpoint, and at the end, and the last over
the first.
"""
from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

os.environ.setdefault("WXCRM_ENV", "development")
os.environ.setdefault("WXCRM_SECRET_KEY", "load-bench-secret")
os.environ.setdefault("WXCRM_LOG_LEVEL", "ERROR")


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--purchases", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--tokens", type=int, default=5000)
    args = parser.parse_args()
    from sqlalchemy import select

    from wxcrm import create_app
    from wxcrm.extensions import db
    from wxcrm.members import cache
    from wxcrm.members.models import Member, Staff
    from wxcrm.members.service import create_token
    app = create_app()

    def new_tokens(n: int) -> list[str]:
        with app.app_context():
            cashier = db.session.scalar(select(Staff).where(Staff.username == "bench-cashier"))
            tokens = [create_token(db.session, cashier, "memory bench") for _ in range(n)]
            db.session.commit()
            return tokens

    with app.app_context():
        cards = list(db.session.scalars(select(Member.card_no).where(Member.openid.like("o-bench-%"))))
    if not cards:
        sys.exit("prepare the database first: bench/load/run.sh (or bench/load/prepare.py)")
    client = app.test_client()
    tokens = new_tokens(args.tokens)
    started = time.monotonic()
    first = None
    for n in range(1, args.purchases + 1):
        token = tokens[n % len(tokens)]
        body = {"store_code": "S001", "member": {"card_no": random.choice(cards)}, "payment_method": "cash",
                "items": [{"sku": "TEA-001", "category": "tea", "qty": 1, "unit_price_fen": 1800}]}
        res = client.post("/api/v1/transactions", json=body,
                          headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())})
        if res.status_code != 201:
            sys.exit(f"purchase {n} failed: {res.status_code} {res.get_data(as_text=True)[:300]}")
        if n == 1000 or n % args.every == 0 or n == args.purchases:
            gc.collect()
            rss = rss_kib()
            if n == 1000:
                first = rss
            print(f"after {n:>7} purchases: RSS {rss / 1024:7.1f} MiB  ({time.monotonic() - started:6.0f} s; "
                  f"caches: {len(cache.tokens)} tokens, {len(cache.stores)} stores)"
                  + (f"; {(rss / first - 1) * 100:+.1f}% on after 1,000" if first else ""), flush=True)
    last = rss_kib()
    first = first or last
    print(f"memory_bench purchases={args.purchases} rss_1000_mib={first / 1024:.1f} rss_end_mib={last / 1024:.1f} "
          f"growth={(last / first - 1) * 100:.1f}%")


if __name__ == "__main__":
    main()
