"""WeChat's side under load: signed callbacks (a member asking 积分, a menu click), one at a
time at a steady pace while wrk drives the till, timed as WeChat sees them.

    python bench/load/callback_probe.py --url http://127.0.0.1:5610/wechat/callback --seconds 12
Prints one line: CALLBACK {"count": n, "p50_ms": ..., "p99_ms": ..., "failed": n}
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from wxcrm.wechat.standin.push import WeChatPusher  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--rate", type=float, default=20, help="callbacks per second")
    parser.add_argument("--members", type=int, default=2000)
    args = parser.parse_args()
    pusher = WeChatPusher(callback_url=args.url, token=os.environ.get("WXCRM_WECHAT_TOKEN", "wxcrm_demo_token"),
                          appid=os.environ.get("WXCRM_WECHAT_APP_ID", "wx_demo_appid"), timeout=5)
    times, failed = [], 0
    end = time.monotonic() + args.seconds
    i = 0
    while time.monotonic() < end:
        openid = f"o-bench-{i * 7919 % args.members:06d}"
        started = time.perf_counter()
        try:
            res = pusher.text(openid, "积分") if i % 2 == 0 else pusher.click(openid, "MY_POINTS")
            ok = res.status == 200
        except Exception:  # noqa: BLE001 - a timeout or a refused connection is a failure, counted
            ok = False
        elapsed = time.perf_counter() - started
        times.append(elapsed * 1000)
        failed += not ok
        i += 1
        time.sleep(max(0.0, 1 / args.rate - elapsed))
    times.sort()

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(len(times) * p / 100))] if times else 0.0

    print("CALLBACK " + json.dumps({"count": len(times), "p50_ms": round(pct(50), 2), "p99_ms": round(pct(99), 2),
                                    "failed": failed}))


if __name__ == "__main__":
    main()
