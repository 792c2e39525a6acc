-- Shared by the wrk profiles: the data prepare.py wrote (tokens, cards), a per-thread
-- idempotency prefix, the acknowledged ids (one file per thread), and one RESULT line.
local data = dofile(os.getenv("WXCRM_BENCH_DATA"))
local run_dir = os.getenv("WXCRM_BENCH_RUN")
local profile = os.getenv("WXCRM_BENCH_PROFILE") or "profile"
cards, cashier, manager = data.cards, data.cashier, data.manager
coupon_cards = data.coupon_cards or {}
codes, code_tick0, code_ticks = data.codes, data.code_tick0, data.code_ticks
nthreads = tonumber(os.getenv("WXCRM_BENCH_THREADS") or "1")

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 100 + tid)
  prefix = string.format("%s-%d-%d-%d-", profile, os.time(), tid, math.random(1, 1000000000))
  counter = 0
  acked, refused = 0, 0
  ack_file = nil
  if run_dir then
    ack_file = io.open(string.format("%s/acked-%s-%d.txt", run_dir, profile, tid), "w")
  end
end

function next_key()
  counter = counter + 1
  return prefix .. counter
end

function random_card()
  return cards[math.random(1, #cards)]
end

function response(status, headers, body)
  if status == 201 then
    acked = acked + 1
    if ack_file then
      local id = string.match(body, '"id"%s*:%s*(%d+)')
      if id then ack_file:write(id, "\n"); ack_file:flush() end
    end
  elseif status >= 300 then
    refused = refused + 1
    if refused <= 3 then io.stderr:write(profile, " ", status, " ", string.sub(body, 1, 200), "\n") end
  end
end

function done(summary, latency, requests)
  local total_acked, total_refused = 0, 0
  for _, t in ipairs(threads) do
    total_acked = total_acked + (t:get("acked") or 0)
    total_refused = total_refused + (t:get("refused") or 0)
  end
  local seconds = summary.duration / 1e6
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'RESULT {"requests": %d, "rps": %.1f, "p50_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, "acked": %d, ' ..
    '"refused": %d, "non2xx": %d, "socket_errors": %d, "seconds": %.2f}\n',
    summary.requests, summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, total_acked, total_refused, summary.errors.status, errors, seconds))
end

-- The member's dynamic code as the till scans it (issue 12): spending needs it. Each code pays
-- for one sale, so every thread takes its own members, each at most once in a 10-second step
-- (prepare.py wrote every member's code per step). The two spending profiles run one after the
-- other and may share a step: points takes each thread's members from the front, split from
-- the back, so the end of one and the start of the next never spend the same code.
local step_seen, cursor = -1, 0
local from_back = os.getenv("WXCRM_BENCH_PROFILE") == "split"

function member_code()
  local step = math.floor(os.time() / 10) - code_tick0
  if step ~= step_seen then step_seen, cursor = step, 0 end
  local per_thread = math.floor(#cards / nthreads)
  local nth = cursor % per_thread
  if from_back then nth = per_thread - 1 - nth end
  local member = (tid - 1) * per_thread + nth     -- 0-based, this thread's own
  cursor = cursor + 1
  if step < 0 then step = 0 end
  if step >= code_ticks then step = code_ticks - 1 end
  return codes[member * code_ticks + step + 1]
end
