-- The till looks a member up by card number.
dofile(os.getenv("WXCRM_BENCH_DIR") .. "/common.lua")
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. cashier

function request()
  counter = counter + 1
  return wrk.format(nil, "/api/v1/members?card_no=" .. random_card())
end
