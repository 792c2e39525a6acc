"""Roll a seeded history up in parallel parts (a one-off after ``seed-demo --transactions``):
the transactions past the sales watermark are split at member boundaries into N ranges, each
rolled up by its own process under its own watermark (its upserts in key order, a batch
added up in memory and written at the end, statement by statement in key order); then the
sales watermark moves to the end. A part stopped half-way resumes from its watermark, but
the cells it had added up are lost: then rebuild (``flask wxcrm rollup --rebuild``). Stop the rollup job or command first. Prints its progress and the time it took.

    WXCRM_ENV=development WXCRM_DATABASE_URL=mysql+pymysql://root@127.0.0.1/wx_bench16?charset=utf8mb4 \\
        python bench/rollup_parts.py --parts 3
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sqlalchemy import text  # noqa: E402


def _app():
    os.environ.setdefault("WXCRM_ENV", "development")
    from wxcrm import create_app
    return create_app()


def part(index: int, start: int, end: int, cells_only: bool = False) -> None:
    import pymysql

    from wxcrm.analytics import rollup
    from wxcrm.analytics.models import SalesDaily
    from wxcrm.config import settings_for
    from wxcrm.extensions import db
    app = _app()
    with app.app_context():
        s, settings, name, done, t = db.session, settings_for(app), f"sales_part{index}", 0, time.perf_counter()
        if cells_only:
            name = f"cells_part{index}"
        s.execute(text("INSERT IGNORE INTO analytics_watermarks (name, last_id, updated_at) VALUES (:n, :l, NOW())"),
                  {"n": name, "l": start - 1})
        s.commit()
        # The part's cells are added up here and written at the end (the parts' rows overlap:
        # writing them batch by batch, the parts would wait on one another's row locks).
        cells: dict = {}
        while True:
            n = rollup.roll_up_sales(s, settings, lag_seconds=0, mark_name=name, upto=end, cells_into=cells,
                                     cells_only=cells_only)
            s.commit()
            if not n:
                break
            done += n
            print(f"part {index}: {done} ids in {time.perf_counter() - t:.0f} s, {len(cells)} cells", flush=True)
        rows = sorted((*key, *sums) for key, sums in cells.items())
        adds = ", ".join(f"{m} = {m} + VALUES({m})" for m in rollup.MEASURES)
        head = f"INSERT INTO {SalesDaily.__tablename__} ({', '.join(rollup.SALES_KEY + rollup.MEASURES)}) VALUES "
        s.close()
        conn = db.engine.raw_connection()   # its own connection, each statement committed
        cursor = conn.cursor()
        for a in range(0, len(rows), 2000):
            statement = head + rollup.mysql_values(rows[a:a + 2000]) + f" ON DUPLICATE KEY UPDATE {adds}"
            while True:
                try:
                    cursor.execute(statement)
                    conn.commit()
                    break
                except pymysql.err.OperationalError as exc:   # a lock wait timeout undoes the statement only
                    print(f"part {index}: retrying ({exc})", flush=True)
        conn.close()
        print(f"part {index}: wrote {len(rows)} cells in {time.perf_counter() - t:.0f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", type=int, default=2)
    ap.add_argument("--sales-cells-only", action="store_true",
                    help="Add the sales rollup rows up again from the first transaction (the member summaries "
                         "and buyer days are current): after a parts run that stopped half-way.")
    args = ap.parse_args()
    from wxcrm.extensions import db
    app = _app()
    t = time.perf_counter()
    with app.app_context():
        s = db.session
        after = s.execute(text("SELECT last_id FROM analytics_watermarks WHERE name = 'sales'")).scalar() or 0
        if args.sales_cells_only:
            after = 0
            s.execute(text("DELETE FROM analytics_sales_daily"))
            s.execute(text("DELETE FROM analytics_watermarks WHERE name LIKE 'cells_part%'"))
            s.commit()
        last = s.execute(text("SELECT MAX(id) FROM transactions")).scalar() or 0
        bounds = [after + 1]
        for k in range(1, args.parts):
            guess = after + (last - after) * k // args.parts
            # the first id of the next member: a member's sales are never in two parts
            member = s.execute(text("SELECT member_id FROM transactions WHERE id >= :g AND member_id IS NOT NULL "
                                    "ORDER BY id LIMIT 1"), {"g": guess}).scalar()
            split = s.execute(text("SELECT MIN(id) FROM transactions WHERE id > :g AND member_id IS NOT NULL "
                                   "AND member_id <> :m"), {"g": guess, "m": member}).scalar()
            if split and split > bounds[-1]:
                bounds.append(split)
        s.rollback()
    ranges = [(i, a, b - 1, args.sales_cells_only) for i, (a, b) in enumerate(zip(bounds, bounds[1:] + [last + 1]))]
    print("parts:", ranges, flush=True)
    procs = [multiprocessing.Process(target=part, args=r) for r in ranges]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode for p in procs):
        sys.exit("a part failed: its watermark says how far it got")
    with app.app_context():
        s = db.session
        s.execute(text("UPDATE analytics_watermarks SET last_id = :l WHERE name = 'sales'"), {"l": last})
        s.execute(text("DELETE FROM analytics_watermarks WHERE name LIKE 'sales_part%' OR name LIKE 'cells_part%'"))
        s.commit()
    print(f"rolled up ids {after + 1}..{last} in {len(ranges)} parts in {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
