-- tests/bench/soak.lua — the mixed traffic of tests/bench/soak.sh (loaded
-- by report.lua, which reports the figures and every error at the end).
-- Each wrk thread goes round MIX in order, so every route gets its share
-- whatever the latencies: anonymous and signed-in ranked feed pages, the
-- newest posts, GET /me, GET /events and POST /posts with a fresh body
-- each time (post.lua's post_body), so the feed keeps changing under its
-- readers. BENCH_TOKEN is the soak account's bearer token.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "post.lua")

local auth = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")

-- method, path, signed in, a post body; one cycle is ten requests.
local MIX = {
  { "GET", "/feed?limit=20", false },
  { "GET", "/me", true },
  { "GET", "/feed?limit=20", true },
  { "GET", "/events?limit=20", true },
  { "POST", "/posts", true, true },
  { "GET", "/feed?sort=new&limit=20", false },
  { "GET", "/me", true },
  { "GET", "/feed?limit=20", false },
  { "GET", "/events?limit=20", true },
  { "POST", "/posts", true, true },
}

local turn = 0

function request()
  local m = MIX[turn % #MIX + 1]
  local headers = { Host = wrk.headers["Host"] }
  local body = nil
  turn = turn + 1
  if m[3] then
    headers["Authorization"] = auth
  end
  if m[4] then
    body = post_body()
    headers["Content-Type"] = "application/json"
  end
  return wrk.format(m[1], m[2], headers, body)
end
