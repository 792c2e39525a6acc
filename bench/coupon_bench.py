"""Coupons at the till: what a purchase costs with and without coupons, and what the
preview costs next to it, in SQL statements (exact) and wall time (indicative).

    python bench/coupon_bench.py [--members 200] [--database-url mysql+pymysql://...]

Each member holds three coupons (one not combinable, two combinable, one restricted to a
category); half the purchases carry a basket the coupons fit. Without a database URL it
uses a temporary SQLite file. The last line is machine-readable.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402

from wxcrm import create_app  # noqa: E402
from wxcrm.checkout import service as checkout  # noqa: E402
from wxcrm.config import settings_for  # noqa: E402
from wxcrm.coupons import service as coupons  # noqa: E402
from wxcrm.extensions import db  # noqa: E402
from wxcrm.members import service as members  # noqa: E402
from wxcrm.rules import storage  # noqa: E402
from wxcrm.timeutil import Clock  # noqa: E402

TEMPLATES = [
    {"code": "B-SG", "type": "spend_get", "title_zh": "满100减20", "face_value_fen": 2000, "min_spend_fen": 10000,
     "valid_days": 30},
    {"code": "B-PCT", "type": "percent", "title_zh": "咖啡9折", "percent_off": 10, "valid_days": 30, "combinable": True,
     "restrictions": {"categories_in": ["coffee"]}},
    {"code": "B-FREE", "type": "free_item", "title_zh": "免费面包", "item_sku": "BAK-1", "valid_days": 30,
     "combinable": True},
]
BASKET = [{"sku": "COF-1", "category": "coffee", "qty": 3, "unit_price_fen": 3200},
          {"sku": "BAK-1", "category": "bakery", "qty": 1, "unit_price_fen": 1200}]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=200)
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/coupon-bench.sqlite3"
    os.environ.setdefault("WXCRM_ENV", "development")
    app = create_app({"DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True})
    with app.app_context():
        db.drop_all()
        db.create_all()
        settings = settings_for(app)
        members.create_store(db.session, code="S001", name="Bench", kind="direct")
        storage.ensure_base_earning(db.session)
        for t in TEMPLATES:
            coupons.save_template(db.session, t)
        clock = Clock.now(settings.tz)
        holders, plain = [], []
        for i in range(args.members):
            m = members.create_member(db.session, card_prefix="8800", today=clock.today, phone=f"137{i:08d}",
                                      privacy_version=settings.privacy_notice_version)
            (holders if i % 2 == 0 else plain).append(m.id)
        db.session.flush()
        for mid in holders:
            from wxcrm.members.models import Member
            member = db.session.get(Member, mid)
            for t in TEMPLATES:
                coupons.issue_coupon(db.session, settings, template_code=t["code"], member=member, channel="manual",
                                     source_ref=f"bench:{t['code']}:{mid}", clock=clock, notify=False)
        db.session.commit()

        statements = [0]
        event.listen(db.engine, "before_cursor_execute", lambda *a, **k: statements.__setitem__(0, statements[0] + 1))

        def measure(kind: str, ids: list[int]) -> tuple[float, float]:
            times, counts = [], []
            for mid in ids:
                statements[0] = 0
                started = time.perf_counter()
                if kind == "preview":
                    checkout.preview_purchase(db.session, settings=settings, store_code="S001", items=BASKET,
                                              member_ref={"member_id": mid})
                    db.session.rollback()
                else:
                    txn = checkout.ring_up_purchase(db.session, store_code="S001", items=BASKET, clock=Clock.now(settings.tz),
                                                    settings=settings, member_ref={"member_id": mid}, notify=False)
                    assert txn.id
                    db.session.commit()
                times.append((time.perf_counter() - started) * 1000)
                counts.append(statements[0])
            return statistics.median(times), statistics.median(counts)

        half = len(holders) // 2
        results = {
            "purchase_no_coupons": measure("purchase", plain),
            "preview_with_coupons": measure("preview", holders[:half]),
            "purchase_with_coupons": measure("purchase", holders[:half]),
        }
        for name, (ms, n) in results.items():
            print(f"{name:24s} median {ms:7.2f} ms  {n:4.0f} SQL statements")
        print("RESULT " + " ".join(f"{k}_ms={v[0]:.2f} {k}_sql={v[1]:.0f}" for k, v in results.items()))


if __name__ == "__main__":
    main()
