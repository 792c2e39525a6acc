-- A member's purchase paid 10 yuan from stored value and the rest in cash (issue 13): the
-- stored-value account locked and spent lot by lot, one row per tender. Spending needs the
-- member at the till (issue 12): it shows the dynamic code, as in points.lua.
dofile(os.getenv("WXCRM_BENCH_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. cashier

local step_seen, cursor = -1, 0

local function member_code()
  local step = math.floor(os.time() / 10) - code_tick0
  if step ~= step_seen then step_seen, cursor = step, 0 end
  local per_thread = math.floor(#cards / nthreads)
  local member = (tid - 1) * per_thread + (cursor % per_thread)     -- 0-based, this thread's own
  cursor = cursor + 1
  if step < 0 then step = 0 end
  if step >= code_ticks then step = code_ticks - 1 end
  return codes[member * code_ticks + step + 1]
end

function request()
  wrk.headers["Idempotency-Key"] = next_key()
  return wrk.format(nil, "/api/v1/transactions", nil, string.format(
    '{"store_code": "S001", "member": {"qr_token": "%s"}, ' ..
    '"payments": [{"method": "stored_value", "amount_fen": 1000}, {"method": "cash"}], ' ..
    '"items": [{"sku": "COF-001", "category": "coffee", "qty": 1, "unit_price_fen": 2800}]}', member_code()))
end
