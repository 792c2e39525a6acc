"""Callback latency: WeChat's side over real HTTP against a running wxcrm.

    /tmp/venv/bin/python bench/callback_bench.py [--requests 600] [--safe] [--database-url URL]

Builds a fresh database (SQLite in a temp folder unless --database-url), starts wxcrm
on a free port, and pushes a realistic mix (new followers, 积分 questions, menu clicks,
store scans) signed and, with --safe, AES-encrypted by wechatpy. Prints percentiles of
the round trip as WeChat would see it. The target is p99 under 50 ms.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from werkzeug.serving import make_server  # noqa: E402

from wxcrm.wechat.standin.push import WeChatPusher  # noqa: E402

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--safe", action="store_true", help="safe mode (AES)")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="wxcrm-bench-")
    os.environ["WXCRM_INSTANCE_PATH"] = tmp
    os.environ.setdefault("WXCRM_ENV", "development")  # SQLite and demo WeChat values
    url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
    from wxcrm import create_app
    from wxcrm.extensions import db
    app = create_app({"DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                      "WECHAT_AES_KEY": AES_KEY if args.safe else "", "LOG_LEVEL": "ERROR"})
    with app.app_context():
        from flask_migrate import upgrade
        if args.database_url:  # a scratch database: start empty
            from sqlalchemy import MetaData
            meta = MetaData()
            meta.reflect(db.engine)
            meta.drop_all(db.engine)
        upgrade()
        from wxcrm.members import service
        service.create_store(db.session, code="S001", name="静安旗舰店")
        db.session.commit()
    import logging
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = app.config
    pusher = WeChatPusher(callback_url=f"http://127.0.0.1:{server.server_port}/wechat/callback",
                          token=cfg["WXCRM_WECHAT_TOKEN"], appid=cfg["WXCRM_WECHAT_APP_ID"],
                          aes_key=cfg["WXCRM_WECHAT_AES_KEY"])

    by_kind: dict[str, list[float]] = {}
    followers = 0
    for i in range(args.requests + 20):
        kind = ("subscribe", "text", "click", "scan")[i % 4]
        if kind == "subscribe":
            followers += 1
            openid = f"o-bench-{followers}"
        else:
            openid = f"o-bench-{max(followers, 1)}"
        started = time.perf_counter()
        if kind == "subscribe":
            res = pusher.follow(openid, "store_S001")
        elif kind == "text":
            res = pusher.text(openid, "积分")
        elif kind == "click":
            res = pusher.click(openid, "MY_POINTS")
        else:
            res = pusher.scan(openid, "store_S001")
        elapsed = (time.perf_counter() - started) * 1000
        assert res.status == 200 and res.reply, (kind, res.status, res.raw[:200])
        if i >= 20:  # warm-up excluded
            by_kind.setdefault(kind, []).append(elapsed)
    server.shutdown()

    every = sorted(x for xs in by_kind.values() for x in xs)

    def pct(xs: list[float], p: float) -> float:
        return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

    mode = "safe mode (AES)" if args.safe else "plaintext"
    print(f"callback round trip, {len(every)} requests, {mode}, {url.split('://')[0]}, one client, real HTTP")
    print(f"{'':12}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}  ms")
    for kind, xs in sorted(by_kind.items()) + [("all", every)]:
        xs = sorted(xs)
        print(f"{kind:<12}{pct(xs, 50):8.1f}{pct(xs, 95):8.1f}{pct(xs, 99):8.1f}{max(xs):8.1f}")
    print(f"mean {statistics.mean(every):.1f} ms; target p99 < 50 ms: {'met' if pct(every, 99) < 50 else 'MISSED'}")


if __name__ == "__main__":
    main()
