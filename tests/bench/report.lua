-- tests/bench/report.lua — wrk script used for every endpoint by
-- tests/bench/run.sh: when the run ends it prints one JSON line with the
-- figures run.sh reads (latencies in milliseconds).
--
-- The request: BENCH_METHOD (default GET), BENCH_BODY (sent as JSON) and
-- BENCH_TOKEN (sent as a bearer token), set by run.sh from the endpoint's
-- options. An endpoint that needs more names its own wrk script in
-- BENCH_SCRIPT; it is loaded next and may define init/request/response.
-- done() is always this one.

local function env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return nil end
  return v
end

wrk.method = env("BENCH_METHOD") or "GET"
if env("BENCH_BODY") then
  wrk.body = env("BENCH_BODY")
  wrk.headers["Content-Type"] = "application/json"
end
if env("BENCH_TOKEN") then
  wrk.headers["Authorization"] = "Bearer " .. env("BENCH_TOKEN")
end

-- Threads are numbered (thread_number, from 1) in the main Lua state
-- before each one's init, and kept for done(); a script may replace this
-- setup.
local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_number", #threads)
end

-- How many threads stopped because they ran out of what their requests
-- use up (a script sets the thread's global used_up): such a run measured
-- its supply, not the server.
local function used_up()
  local n = 0
  for _, t in ipairs(threads) do
    if t:get("used_up") then n = n + 1 end
  end
  return n
end

-- The lines of file path that are this thread's share, for scripts whose
-- requests use things up (proofs, refresh tokens): thread k of n
-- (BENCH_WRK_THREADS) takes lines k, k + n, k + 2n..., so no two threads
-- ever send the same one.
function thread_lines(path)
  local k, n, i, mine = thread_number or 1, tonumber(os.getenv("BENCH_WRK_THREADS")) or 1, 0, {}
  for line in io.lines(path) do
    if i % n == k - 1 then
      mine[#mine + 1] = line
    end
    i = i + 1
  end
  return mine
end

local extra = env("BENCH_SCRIPT")
if extra then
  dofile(extra)
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"name":"%s","requests":%d,"seconds":%.3f,"rps":%.1f,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"non_2xx_3xx":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"used_up":%d}\n',
    os.getenv("BENCH_NAME") or "?", summary.requests, seconds,
    summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect, e.read, e.write, e.timeout, used_up()))
end
