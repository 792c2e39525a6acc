-- A member's purchase paid 10 yuan from stored value and the rest in cash (issue 13): the
-- stored-value account locked and spent lot by lot, one row per tender. Spending needs the
-- member at the till (issue 12): it shows the dynamic code (common.lua's member_code).
dofile(os.getenv("WXCRM_BENCH_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. cashier

function request()
  wrk.headers["Idempotency-Key"] = next_key()
  return wrk.format(nil, "/api/v1/transactions", nil, string.format(
    '{"store_code": "S001", "member": {"qr_token": "%s"}, ' ..
    '"payments": [{"method": "stored_value", "amount_fen": 1000}, {"method": "cash"}], ' ..
    '"items": [{"sku": "COF-001", "category": "coffee", "qty": 1, "unit_price_fen": 2800}]}', member_code()))
end
