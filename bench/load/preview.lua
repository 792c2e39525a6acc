-- The till's preview (issue 14) of the same basket as coupon.lua: every coupon the member holds
-- considered, the best chosen, nothing written. It should cost no more than the purchase.
dofile(os.getenv("WXCRM_BENCH_DIR") .. "/coupon.lua")
wrk.headers["Idempotency-Key"] = nil

function request()
  return wrk.format(nil, "/api/v1/transactions/preview", nil, coupon_body())
end
