-- The baseline: lock a balance, append an entry, move the balance, commit.
dofile(os.getenv("WXCRM_BENCH_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  counter = counter + 1
  return wrk.format(nil, "/purchase", nil,
    string.format('{"account": %d, "points": 18}', math.random(1, #cards)))
end
