-- A member's 100-yuan top-up at the counter, paid in cash (issue 13): the rules' `topup` event,
-- a stored-value lot, the top-up notice in the outbox.
dofile(os.getenv("WXCRM_BENCH_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. cashier

function request()
  wrk.headers["Idempotency-Key"] = next_key()
  return wrk.format(nil, "/api/v1/topups", nil, string.format(
    '{"store_code": "S001", "member": {"card_no": "%s"}, "amount_fen": 10000, "method": "cash"}', random_card()))
end
