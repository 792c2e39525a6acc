#!/usr/bin/env bash
# The till under load, side by side with its physical baseline (issue 11). See bench/load/README.md.
#
#   bench/load/run.sh                  # about two minutes on 2 cores
#   DURATION=30 MEMBERS=5000 bench/load/run.sh
#
# Creates its own MariaDB database (WXCRM_BENCH_DB, default wx_bench11, dropped and rebuilt),
# starts wxcrm under gunicorn (4 sync workers), the bare baseline app and the idealised purchase
# (ideal_app.py) beside it, drives them with wrk (16 connections), probes the WeChat callback during the purchase profile and during
# the same purchase paced at 70 % of its throughput (the issue's load for the callback's p99, and
# the last line's callback_p99_ms), then runs the audit and counts acknowledged against stored
# transactions. The last line is:
#   load_bench purchase_rps=N bare_rps=N ratio=N purchase_p99_ms=N callback_p99_ms=N lost=N duplicated=N
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${VENV:-${WXCRM_VENV:-$ROOT/.venv}}"
PY="$VENV/bin/python"
DB_HOST="${DB_HOST:-127.0.0.1}"
DB_NAME="${WXCRM_BENCH_DB:-wx_bench11}"
APP_PORT="${APP_PORT:-5610}"
BARE_PORT="${BARE_PORT:-5611}"
IDEAL_PORT="${IDEAL_PORT:-5612}"
WORKERS="${WORKERS:-4}"
WORKER_THREADS="${WORKER_THREADS:-1}"   # gunicorn --threads: 1 = sync workers; README's deployment uses 4 (gthread)
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"
DURATION="${DURATION:-12}"
MEMBERS="${MEMBERS:-2000}"

if ! command -v wrk >/dev/null; then
  echo "==> installing wrk (Debian package)"
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null; else sudo apt-get install -y wrk >/dev/null; fi
fi
[ -x "$VENV/bin/gunicorn" ] || "$VENV/bin/pip" install -q -r "$ROOT/requirements.txt"

RUN="$(mktemp -d "${TMPDIR:-/tmp}/wxcrm-load-XXXXXX")"
export WXCRM_ENV=development
export WXCRM_DATABASE_URL="mysql+pymysql://root@$DB_HOST/$DB_NAME?charset=utf8mb4"
export WXCRM_SECRET_KEY="load-bench-secret"
export WXCRM_INSTANCE_PATH="$RUN/instance"
export WXCRM_LOG_LEVEL=ERROR
export WXCRM_MEMBER_LOOKUP_LIMIT="10000000 per minute"   # the bench looks members up far faster than a till
export WXCRM_SCHEDULER_ENABLED=0
export WXCRM_BENCH_DIR="$HERE" WXCRM_BENCH_RUN="$RUN" WXCRM_BENCH_DATA="$RUN/data.lua" WXCRM_BENCH_THREADS="$THREADS"
export FLASK_APP=wsgi
mkdir -p "$RUN/instance"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "==> gunicorn: $WORKERS workers x $WORKER_THREADS threads, for wxcrm and the bare app alike; load: $(uptime | sed 's/.*load/load/')"
echo "==> database $DB_NAME: schema, demo programme, $MEMBERS members (run files in $RUN)"
mysql -h"$DB_HOST" -uroot -e "DROP DATABASE IF EXISTS \`$DB_NAME\`; CREATE DATABASE \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
(cd "$ROOT" && "$PY" bench/load/prepare.py --members "$MEMBERS" --data "$RUN/data.lua" \
   --code-seconds "$((DURATION * 10 + 180))")   # the members' dynamic codes, until the points profile is done

cd "$ROOT"
"$VENV/bin/gunicorn" -w "$WORKERS" --threads "$WORKER_THREADS" -b "127.0.0.1:$APP_PORT" --log-level warning wsgi:app >"$RUN/wxcrm.log" 2>&1 &
pids+=($!)
"$VENV/bin/gunicorn" -w "$WORKERS" --threads "$WORKER_THREADS" -b "127.0.0.1:$BARE_PORT" --log-level warning bench.load.bare_app:app >"$RUN/bare.log" 2>&1 &
pids+=($!)
"$VENV/bin/gunicorn" -w "$WORKERS" --threads "$WORKER_THREADS" -b "127.0.0.1:$IDEAL_PORT" --log-level warning bench.load.ideal_app:app >"$RUN/ideal.log" 2>&1 &
pids+=($!)
for port in "$APP_PORT" "$BARE_PORT" "$IDEAL_PORT"; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
done

# Where the CPU goes: the CPU time (user + system, from /proc) of each gunicorn's master and
# workers, and of the local MariaDB server if there is one, per request of a profile.
APP_MASTER="${pids[0]}" BARE_MASTER="${pids[1]}" IDEAL_MASTER="${pids[2]}"
DB_PID="$(pgrep -x mariadbd || pgrep -x mysqld || true)"
ticks() {  # CPU ticks of these pids and their children
  local total=0 pid t
  for pid in "$@" $(for m in "$@"; do pgrep -P "$m" || true; done); do
    t="$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)"
    total=$((total + t))
  done
  echo "$total"
}
declare -A RPS P50 P99 NON2XX APP_CPU DB_CPU
drive() {  # $1 script (profile), $2 port, $3 name in the table (default: the profile)
  local out name="${3:-$1}" master="$APP_MASTER" app0 db0 app1 db1
  [ "$2" = "$BARE_PORT" ] && master="$BARE_MASTER"
  [ "$2" = "$IDEAL_PORT" ] && master="$IDEAL_MASTER"
  app0="$(ticks "$master")"; db0="$( [ -n "$DB_PID" ] && ticks "$DB_PID" || echo 0)"
  out="$(WXCRM_BENCH_PROFILE="$name" wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --timeout 5s \
         -s "$HERE/$1.lua" "http://127.0.0.1:$2" 2>"$RUN/wrk-$name.err" | grep '^RESULT ' | cut -c8-)"
  app1="$(ticks "$master")"; db1="$( [ -n "$DB_PID" ] && ticks "$DB_PID" || echo 0)"
  echo "$out" >"$RUN/result-$name.json"
  read -r RPS[$name] P50[$name] P99[$name] NON2XX[$name] APP_CPU[$name] DB_CPU[$name] < <("$PY" -c '
import json, os, sys
r = json.load(sys.stdin)
tick, n = os.sysconf("SC_CLK_TCK"), max(r["requests"], 1)
app, db, has_db = (int(a) for a in sys.argv[1:4])
print(r["rps"], r["p50_ms"], r["p99_ms"], r["non2xx"] + r["socket_errors"], f"{app / tick * 1000 / n:.2f}",
      f"{db / tick * 1000 / n:.2f}" if has_db else "-")' "$((app1 - app0))" "$((db1 - db0))" "$([ -n "$DB_PID" ] && echo 1 || echo 0)" <<<"$out")
}

echo "==> warming both apps"
WXCRM_BENCH_PROFILE=warm wrk -t 1 -c 4 -d 2s -s "$HERE/purchase.lua" "http://127.0.0.1:$APP_PORT" >/dev/null 2>&1 || true
WXCRM_BENCH_PROFILE=warmbare wrk -t 1 -c 4 -d 2s -s "$HERE/bare.lua" "http://127.0.0.1:$BARE_PORT" >/dev/null 2>&1 || true
WXCRM_BENCH_PROFILE=warmideal wrk -t 1 -c 4 -d 2s -s "$HERE/purchase.lua" "http://127.0.0.1:$IDEAL_PORT" >/dev/null 2>&1 || true

echo "==> bare baseline (${DURATION}s, $CONNECTIONS connections)"
drive bare "$BARE_PORT"
echo "==> the idealised purchase (ideal_app.py: the till's SQL in Core, no auth, validation, rules or ORM)"
drive purchase "$IDEAL_PORT" ideal
echo "==> member purchase, with the WeChat callback probed beside it"
"$PY" "$HERE/callback_probe.py" --url "http://127.0.0.1:$APP_PORT/wechat/callback" --seconds "$DURATION" \
      --members "$MEMBERS" >"$RUN/callback.txt" &
probe=$!
drive purchase "$APP_PORT"
wait "$probe"
echo "==> member purchase at about 70 % of that throughput, the WeChat callback probed beside it"
# Paced by the number of connections, each sending its next purchase when the last is answered:
# the fewest connections (short runs, 1, 2, ...) that reach 70 % of the full-load throughput.
# (Not by wrk's pause between requests: wrk reconnects at once and pauses with the connection
# open, and a sync worker waits on that idle connection, so the callback queued behind them.)
TARGET_RPS="$("$PY" -c "print(0.7 * float('${RPS[purchase]}'))")"
FULL_CONNECTIONS="$CONNECTIONS" FULL_THREADS="$THREADS"
for c in $(seq 1 "$FULL_CONNECTIONS"); do
  (CONNECTIONS=$c THREADS=$(( c < FULL_THREADS ? c : FULL_THREADS )) DURATION=3 drive purchase "$APP_PORT" "pacing$c")
  GOT="$("$PY" -c "import json; print(json.load(open('$RUN/result-pacing$c.json'))['rps'])" 2>/dev/null || echo 0)"
  PACED_CONNECTIONS=$c
  "$PY" -c "import sys; sys.exit(0 if float('$GOT' or 0) >= $TARGET_RPS else 1)" && break
done
"$PY" "$HERE/callback_probe.py" --url "http://127.0.0.1:$APP_PORT/wechat/callback" --seconds "$DURATION" \
      --members "$MEMBERS" >"$RUN/callback-paced.txt" &
probe=$!
CONNECTIONS=$PACED_CONNECTIONS THREADS=$(( PACED_CONNECTIONS < FULL_THREADS ? PACED_CONNECTIONS : FULL_THREADS ))
drive purchase "$APP_PORT" paced
CONNECTIONS=$FULL_CONNECTIONS THREADS=$FULL_THREADS
wait "$probe"
echo "==> purchase paying with points"
drive points "$APP_PORT"
echo "==> top-up at the counter (issue 13)"
drive topup "$APP_PORT"
echo "==> purchase paid with stored value and cash (issue 13)"
drive split "$APP_PORT"
echo "==> purchase with a coupon the member holds (issue 14)"
drive coupon "$APP_PORT"
echo "==> preview of that purchase (issue 14: it writes nothing)"
drive preview "$APP_PORT"
"$PY" "$HERE/check.py" refundable "$RUN"
echo "==> refund (a manager's token)"
drive refund "$APP_PORT"
echo "==> member look-up"
drive lookup "$APP_PORT"

echo
printf '%-18s %10s %10s %10s %8s %8s %12s %11s\n' profile rps p50_ms p99_ms ratio errors app_cpu_ms db_cpu_ms
for p in bare ideal purchase paced points topup split coupon preview refund lookup; do
  ratio="$("$PY" -c "print(f'{float(\"${RPS[$p]}\") / float(\"${RPS[bare]}\"):.2f}')")"
  printf '%-18s %10s %10s %10s %8s %8s %12s %11s\n' "$p" "${RPS[$p]}" "${P50[$p]}" "${P99[$p]}" "$ratio" "${NON2XX[$p]}" \
         "${APP_CPU[$p]}" "${DB_CPU[$p]}"
done
echo "(app_cpu_ms, db_cpu_ms: CPU per request of the app's gunicorn, the callbacks probed beside purchase and"
echo " paced included, and of the local MariaDB server; the rest of the 2 cores goes to wrk and the kernel)"
echo "coupons: purchase with a coupon ${RPS[coupon]} rps (p50 ${P50[coupon]} ms), its preview ${RPS[preview]} rps (p50 ${P50[preview]} ms)"
CALLBACK_FULL="$(grep '^CALLBACK ' "$RUN/callback.txt" | cut -c10-)"
CALLBACK="$(grep '^CALLBACK ' "$RUN/callback-paced.txt" | cut -c10-)"
echo "(paced: $PACED_CONNECTIONS connections, the fewest reaching 70 % of the purchase's rps: ${TARGET_RPS%.*})"
echo "callback under the full purchase load: $CALLBACK_FULL"
echo "callback under the paced load (70 %, the last line's callback_p99_ms): $CALLBACK"
for f in "$RUN"/wrk-*.err; do [ -s "$f" ] && { echo "--- $(basename "$f")"; head -5 "$f"; }; done

echo "==> audit"
audit_ok=1
"$VENV/bin/flask" wxcrm audit || audit_ok=0
COUNT="$("$PY" "$HERE/check.py" count "$RUN" | grep '^COUNT ' | cut -c7-)"
echo "acknowledged vs stored: $COUNT"
[ "$audit_ok" = 1 ] || echo "AUDIT FAILED"

"$PY" - "$CALLBACK" "$COUNT" "${RPS[purchase]}" "${RPS[bare]}" "${P99[purchase]}" <<'PY'
import json, sys
cb, count = json.loads(sys.argv[1]), json.loads(sys.argv[2])
purchase, bare, p99 = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
print(f"load_bench purchase_rps={purchase:.0f} bare_rps={bare:.0f} ratio={purchase / bare:.2f} "
      f"purchase_p99_ms={p99:.1f} callback_p99_ms={cb['p99_ms']:.1f} lost={count['lost']} "
      f"duplicated={count['duplicated']}")
PY
