-- A member's one-item purchase by card number, as a till sends it.
dofile(os.getenv("WXCRM_BENCH_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. cashier

function request()
  wrk.headers["Idempotency-Key"] = next_key()
  return wrk.format(nil, "/api/v1/transactions", nil, string.format(
    '{"store_code": "S001", "member": {"card_no": "%s"}, "payment_method": "wechat_pay", ' ..
    '"items": [{"sku": "TEA-001", "category": "tea", "qty": 1, "unit_price_fen": 1800}]}', random_card()))
end
