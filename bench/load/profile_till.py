"""Where a purchase's time goes: cProfile over N purchases through the app (Flask's test
client, one process, the bench's database as run.sh left it; or any prepared one).

    WXCRM_DATABASE_URL=mysql+pymysql://root@127.0.0.1/wx_bench11?charset=utf8mb4 \
        python bench/load/profile_till.py --purchases 300 [--points 100] [--sort tottime] [--top 15]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import sys
import time
import uuid

sys.path.insert(0, os.environ.get("WXCRM_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

os.environ.setdefault("WXCRM_ENV", "development")
os.environ.setdefault("WXCRM_SECRET_KEY", "load-bench-secret")
os.environ.setdefault("WXCRM_LOG_LEVEL", "ERROR")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--purchases", type=int, default=300)
    parser.add_argument("--points", type=int, default=0)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--save", help="also write the raw profile here (pstats / snakeviz)")
    parser.add_argument("--no-profile", action="store_true",
                        help="only the purchases without the profiler (e.g. under `perf stat -e instructions:u`, "
                             "twice with different --purchases: the difference over the purchases is per purchase)")
    args = parser.parse_args()
    from sqlalchemy import select

    from wxcrm import create_app
    from wxcrm.extensions import db
    from wxcrm.members.models import ApiToken, Member, Staff
    from wxcrm.members.service import create_token
    app = create_app()
    with app.app_context():
        cashier = db.session.scalar(select(Staff).where(Staff.username == "bench-cashier"))
        token = create_token(db.session, cashier, "profile")
        db.session.commit()
        # the purchase profile's members (prepare.py's cards), not the coupon members apart
        # ("o-bench-c..."), whose purchases also choose among 20 coupons (the coupon profile)
        cards = list(db.session.scalars(select(Member.card_no).where(Member.openid.like("o-bench-%"),
                                                                     Member.openid.not_like("o-bench-c%"))))
        assert ApiToken is not None and cards, "prepare the database first (bench/load/prepare.py or run.sh)"
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    people = iter(range(10 ** 9))

    def member_ref() -> dict:
        """A card number; a sale that spends names the member by their dynamic code (issue 12),
        each member in turn, so no code pays twice."""
        if not args.points:
            return {"card_no": random.choice(cards)}
        from wxcrm import timeutil
        from wxcrm.cards.codes import issue_member_code
        from wxcrm.config import settings_for
        with app.app_context():
            member = db.session.scalar(select(Member).where(Member.card_no == cards[next(people) % len(cards)]))
            return {"qr_token": issue_member_code(db.session, member, secret=settings_for(app).member_code_secret,
                                                  now=timeutil.utcnow()).token}

    def one():
        body = {"store_code": "S001", "member": member_ref(), "payment_method": "cash",
                "points_to_use": args.points,
                "items": [{"sku": "COF-001", "category": "coffee", "qty": 1, "unit_price_fen": 2800}]}
        res = client.post("/api/v1/transactions", json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
        assert res.status_code == 201, res.get_json()

    for _ in range(20):
        one()   # warm the worker's caches
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(args.purchases):
        one()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{args.purchases} purchases without the profiler: {cpu / args.purchases * 1000:.2f} ms of this "
          f"process's CPU and {wall / args.purchases * 1000:.2f} ms of wall time each")
    if args.no_profile:
        return
    profiler = cProfile.Profile(time.process_time)   # CPU time: waits on the database do not count
    started = time.perf_counter()
    profiler.enable()
    for _ in range(args.purchases):
        one()
    profiler.disable()
    elapsed = time.perf_counter() - started
    print(f"{args.purchases} purchases in {elapsed:.2f}s: {elapsed / args.purchases * 1000:.2f} ms each "
          f"(under the profiler, one process; the profile below counts CPU time)")
    if args.save:
        profiler.dump_stats(args.save)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
