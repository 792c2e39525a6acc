-- A purchase with a coupon (issue 14): a member who holds coupons buys one ¥18 item by card
-- number; the till finds the member's coupons, picks the ¥5-off-¥15 one and marks it used.
dofile(os.getenv("WXCRM_BENCH_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. cashier

function coupon_body()
  return string.format(
    '{"store_code": "S001", "member": {"card_no": "%s"}, "payment_method": "wechat_pay", ' ..
    '"items": [{"sku": "TEA-001", "category": "tea", "qty": 1, "unit_price_fen": 1800}]}',
    coupon_cards[math.random(1, #coupon_cards)])
end

function request()
  wrk.headers["Idempotency-Key"] = next_key()
  return wrk.format(nil, "/api/v1/transactions", nil, coupon_body())
end
