-- A member's purchase paying 100 points of its 28.00 yuan (locks and spends the points). It
-- shows the member's dynamic code, as the till scans it from the card page: a typed card
-- number may not spend. Each code pays for one sale, so every thread takes its own members,
-- each at most once in a 10-second step (prepare.py wrote every member's code per step).
dofile(os.getenv("WXCRM_BENCH_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. cashier

function request()
  wrk.headers["Idempotency-Key"] = next_key()
  return wrk.format(nil, "/api/v1/transactions", nil, string.format(
    '{"store_code": "S001", "member": {"qr_token": "%s"}, "payment_method": "cash", "points_to_use": 100, ' ..
    '"items": [{"sku": "COF-001", "category": "coffee", "qty": 1, "unit_price_fen": 2800}]}', member_code()))
end
