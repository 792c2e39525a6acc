"""After the load: what the tills were told against what the database holds.

    python bench/load/check.py refundable RUN_DIR   # writes RUN_DIR/refundable.lua (acked purchase ids)
    python bench/load/check.py count RUN_DIR        # prints COUNT {"acked": .., "stored": .., "lost": .., ...}

``lost``: a transaction id a till got back (201) that is not stored. ``duplicated``: a sale
stored twice: an idempotency key answered by more than one stored transaction (more stored
transactions than keys that answered 201), or one id acknowledged twice.
``unacknowledged``: stored, but the answer never reached wrk (in flight when a profile's
time ran out): not lost, not duplicated, reported for completeness.
"""
from __future__ import annotations

import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from sqlalchemy import func, select  # noqa: E402

from wxcrm import create_app  # noqa: E402
from wxcrm.extensions import db  # noqa: E402
from wxcrm.idempotency import IdempotencyKey  # noqa: E402
from wxcrm.sales.models import Transaction  # noqa: E402

WRITE_PROFILES = ("warm", "purchase", "pacing*", "paced", "points", "split", "coupon", "refund")   # topup acks top-ups, not sales


def acked_ids(run_dir: str, profiles) -> list[int]:
    ids = []
    for profile in profiles:
        for path in glob.glob(os.path.join(run_dir, f"acked-{profile}-*.txt")):
            with open(path) as f:
                ids.extend(int(line) for line in f if line.strip())
    return ids


def main() -> None:
    mode, run_dir = sys.argv[1], sys.argv[2]
    if mode == "refundable":
        ids = acked_ids(run_dir, ("purchase", "paced", "points"))
        with open(os.path.join(run_dir, "refundable.lua"), "w") as out:
            out.write("return {" + ",".join(map(str, ids)) + "}\n")
        print(f"refundable: {len(ids)} purchases")
        return
    app = create_app()
    with app.app_context():
        acked = acked_ids(run_dir, WRITE_PROFILES)
        stored = set(db.session.scalars(select(Transaction.id).where(Transaction.staff_id.is_not(None))))
        keys = db.session.scalar(select(func.count(IdempotencyKey.id)).where(
            IdempotencyKey.status_code == 201, IdempotencyKey.scope != "ideal"))   # ideal_app.py's own
        acked_set = set(acked)
        lost = len(acked_set - stored)
        duplicated = (len(acked) - len(acked_set)) + max(0, len(stored) - keys)
        print("COUNT " + json.dumps({"acked": len(acked), "stored": len(stored), "idempotency_keys": keys,
                                     "lost": lost, "duplicated": duplicated,
                                     "unacknowledged": len(stored - acked_set)}))


if __name__ == "__main__":
    main()
