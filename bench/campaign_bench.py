"""A campaign to a 100,000-member segment: the segment computed and the campaign queued.

    /work/main/.venv/bin/python bench/campaign_bench.py --database-url 'mysql+pymysql://root@127.0.0.1/wx_i15?charset=utf8mb4' [--members 100000]

Builds a scratch database (every table dropped, then migrated; SQLite in a temp folder
unless --database-url), loads N members set-based (four in five follow the account, the
rest have only a mobile number; all with marketing consent) with a purchase each in the
last 90 days, then times:

- segment_ms: the size of a segment over profile and behaviour (consent, spend in a
  365-day window, recency), computed by one SQL statement;
- queue_s: the campaign queued: its members chosen with a 10 % control group (one INSERT
  ... SELECT), the first batch of messages written to the outbox when it starts, then the
  rest fed by what the campaigns job does (batches of 10,000), until every target member's
  message is in the outbox (each member's channel chosen by WeChat's rules: mass sends four
  a month, SMS otherwise; one INSERT ... SELECT per kind of member).
  With --coupon, the campaign carries a coupon whose stock (--stock, default half the
  members) runs out part-way: each recipient's coupon is issued with their message.

The target is segment + queue within 10 s on MariaDB. The last line is
`campaign_bench members=N segment_ms=N queue_s=N` (and `coupons=N` with --coupon).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date, datetime, timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _ServerCpu:
    """The CPU time MariaDB's threads spent on this process's connections since ``start``
    (MariaDB on this machine and /proc readable; otherwise zeros): a figure the machine's
    other work does not inflate, unlike wall time."""

    def __init__(self, engine):
        self.pid, self.base = None, {}
        if engine.dialect.name not in ("mysql", "mariadb"):
            return
        try:
            self.pid = int(os.popen("pidof mariadbd mysqld").read().split()[0])
        except (IndexError, ValueError):
            return
        self.tick = os.sysconf("SC_CLK_TCK")
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def _seen(conn, cursor, statement, parameters, context, executemany):
            self.of(conn)

    def _cpu(self, tid: int) -> float:
        try:
            fields = open(f"/proc/{self.pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / self.tick

    def of(self, conn) -> float:
        """This connection's thread's CPU time so far."""
        if not self.pid:
            return 0.0
        info = conn.connection.info
        if "tid" not in info:
            cur = conn.connection.dbapi_connection.cursor()
            cur.execute("SELECT tid FROM information_schema.processlist WHERE id = CONNECTION_ID()")
            info["tid"] = cur.fetchone()[0]
            cur.close()
        tid = info["tid"]
        now = self._cpu(tid)
        self.base.setdefault(tid, now)
        return now

    def start(self) -> None:
        self.base = {tid: self._cpu(tid) for tid in self.base}

    def total(self) -> float:
        return sum(self._cpu(tid) - base for tid, base in self.base.items())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--coupon", action="store_true", help="the campaign carries a coupon")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the members a previous run loaded (--database-url): only the campaign is redone")
    parser.add_argument("--sql-times", action="store_true", help="print the statements that took longest")
    parser.add_argument("--profile", action="store_true", help="profile this process's queuing (cProfile)")
    parser.add_argument("--stock", type=int, default=0, help="the coupon's stock (default: half the members)")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="wxcrm-bench-")
    os.environ["WXCRM_INSTANCE_PATH"] = tmp
    os.environ.setdefault("WXCRM_ENV", "development")
    url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
    from sqlalchemy import MetaData, func, insert, select

    from wxcrm import create_app
    from wxcrm.campaigns import segments
    from wxcrm.campaigns import service as campaigns
    from wxcrm.config import settings_for
    from wxcrm.coupons.models import Coupon
    from wxcrm.extensions import db
    from wxcrm.members.models import Member, Store
    from wxcrm.messages.models import OutboxMessage
    from wxcrm.sales.models import Transaction
    app = create_app({"DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench" * 8,
                      "LOG_LEVEL": "ERROR", "QUIET_HOURS": ""})
    n = args.members
    with app.app_context():
        from flask_migrate import upgrade
        s = db.session
        today = date(2026, 6, 10)
        reuse = False
        if args.database_url and args.reuse:
            try:
                reuse = s.scalar(select(func.count(Member.id))) == n
            except Exception:   # noqa: BLE001 - no tables yet
                pass
            s.rollback()        # no transaction left open: dropping the tables would wait for it
        if reuse:
            print(f"reusing the {n} members loaded before", flush=True)
            for table in ("outbox_messages", "campaign_members", "campaigns", "segments", "wechat_mass_counts",
                          "coupons", "coupon_templates"):
                s.execute(db.metadata.tables[table].delete())
            s.execute(Member.__table__.update().values(coupons_held=0))
            s.commit()
        else:
            if args.database_url:
                meta = MetaData()
                meta.reflect(db.engine)
                meta.drop_all(db.engine)
            upgrade()
            s.add(Store(code="S001", name="静安旗舰店", kind="direct"))
            s.commit()
        store_id = s.scalar(select(Store.id))
        print(f"loading {n} members ...", flush=True)
        for start in range(0, 0 if reuse else n, 10_000):
            rows = []
            for i in range(start, min(start + 10_000, n)):
                follows = i % 5 != 0
                rows.append({"card_no": f"8800{i:010d}", "openid": f"o-bench-{i:07d}" if follows else None,
                             "phone": f"139{i:08d}", "followed": follows, "status": "active",
                             "joined_on": date(2025, 1, 1), "marketing_consent": True, "gender": "unknown",
                             "created_at": datetime(2025, 1, 1), "updated_at": datetime(2025, 1, 1)})
            s.execute(insert(Member), rows)
            s.commit()
        ids = list(s.scalars(select(Member.id).order_by(Member.id)))
        for start in range(0, 0 if reuse else n, 10_000):
            s.execute(insert(Transaction), [
                {"kind": "purchase", "store_id": store_id, "member_id": mid, "total_fen": 10_000 + (mid % 50) * 100,
                 "payable_fen": 10_000 + (mid % 50) * 100, "receipt": {}, "business_date": today - timedelta(days=mid % 90),
                 "created_at": datetime(2026, 6, 1)} for mid in ids[start:start + 10_000]])
            s.commit()
        settings = settings_for(app)
        filters = [{"field": "marketing_consent", "op": "==", "value": True},
                   {"field": "monetary_fen", "op": ">=", "value": 0, "window_days": 365},
                   {"field": "recency_days", "op": ">=", "value": 0}]
        t0 = time.perf_counter()
        size = segments.size(s, filters, today)
        segment_ms = (time.perf_counter() - t0) * 1000
        print(f"segment: {size} members in {segment_ms:.0f} ms", flush=True)
        segment = campaigns.save_segment(s, name="bench", filters=filters)
        now = datetime(2026, 6, 10, 3, 0)
        coupon_id = None
        if args.coupon:
            from wxcrm.coupons.service import save_template
            coupon_id = save_template(s, {"code": "BENCH10", "type": "cash", "title_zh": "夏日10元券",
                                          "face_value_fen": 1000, "valid_days": 30,
                                          "stock_total": args.stock or n // 2}).id
        campaign = campaigns.create_campaign(s, settings, name="bench", segment_id=segment.id, text="夏季新品上市，会员双倍积分",
                                             control_pct=10, coupon_template_id=coupon_id, now=now)
        s.commit()
        stats: dict[str, list] = {}
        server = _ServerCpu(db.engine)
        if args.sql_times:
            from sqlalchemy import event

            @event.listens_for(db.engine, "before_cursor_execute")
            def _started(conn, cursor, statement, parameters, context, executemany):
                conn.info["t"] = time.perf_counter(), server.of(conn)

            @event.listens_for(db.engine, "after_cursor_execute")
            def _ended(conn, cursor, statement, parameters, context, executemany):
                found = stats.setdefault(" ".join(statement.split())[:100], [0, 0.0, 0.0])
                t, cpu = conn.info["t"]
                found[0] += 1
                found[1] += time.perf_counter() - t
                found[2] += server.of(conn) - cpu
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        if args.profile:
            import cProfile
            profile = cProfile.Profile()
            profile.enable()
        server.start()
        counts = campaigns.send_now(s, settings, campaign.id, now=now)
        s.commit()
        start_s = time.perf_counter() - t0
        print(f"started: {counts['target']} members chosen, {counts['control']} in the control group, "
              f"first {counts['queued']} messages in the outbox, in {start_s:.2f} s", flush=True)
        while campaigns.get_campaign(s, campaign.id).status == "sending":   # what the campaigns job does
            campaigns.feed(s, settings, campaigns.get_campaign(s, campaign.id), now)
            s.commit()
        queue_s = time.perf_counter() - t0
        client_cpu, server_cpu = time.process_time() - cpu0, server.total()
        if args.profile:
            import pstats
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        counts = campaigns.get_campaign(s, campaign.id).counts
        rows = s.scalar(select(func.count(OutboxMessage.id)))
        issued = s.scalar(select(func.count(Coupon.id)))
        print(f"queued: every target member's message in the outbox ({rows} rows, {issued} coupons; {counts}) "
              f"{queue_s:.2f} s after the start, in batches of {campaigns.BATCH}", flush=True)
        for statement, (count, seconds, cpu) in sorted(stats.items(), key=lambda kv: -kv[1][1])[:12]:
            print(f"{seconds:7.2f} s {cpu:6.2f} s cpu {count:5d}x {statement}")
        if server.pid:
            # on a busy machine the wall time waits for the CPU: what the queuing itself used
            print(f"queue cpu: {client_cpu:.2f} s here + {server_cpu:.2f} s in MariaDB's session threads "
                  f"= {client_cpu + server_cpu:.2f} s (load average {os.getloadavg()[0]:.2f})")
        print(f"segment + queue: {segment_ms / 1000 + queue_s:.2f} s (target <= 10 s)")
        extra = f" coupons={issued}" if args.coupon else ""
        print(f"campaign_bench members={size} segment_ms={segment_ms:.0f} queue_s={queue_s:.2f}{extra}")

if __name__ == "__main__":
    main()
