-- A manager refunds whole purchases (refunds need a manager or an admin), each once:
-- the ids are the purchases the earlier profiles stored, shared out between wrk's threads.
dofile(os.getenv("WXCRM_BENCH_DIR") .. "/common.lua")
local ids = dofile(os.getenv("WXCRM_BENCH_RUN") .. "/refundable.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. manager

local position = 0
function request()
  position = position + 1
  local id = ids[((position - 1) * nthreads + tid - 1) % #ids + 1]
  wrk.headers["Idempotency-Key"] = next_key()
  return wrk.format(nil, string.format("/api/v1/transactions/%d/refund", id), nil, "{}")
end
