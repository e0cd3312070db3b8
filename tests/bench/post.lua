-- tests/bench/post.lua — POST /posts for tests/bench/run.sh (loaded by
-- report.lua): every request carries a different body, so the guardrails
-- see fresh text each time and the bench measures writes, not 422s. The
-- method, Content-Type and bearer token come from report.lua. When
-- BENCH_PATHS lists paths (space separated: run.sh's spread=N), the
-- requests go round them, thread k of n (BENCH_WRK_THREADS) starting
-- (k - 1) / n of the way round, so the threads' requests in flight meet on
-- one path as seldom as they can.

local words = {
  "about", "after", "again", "answer", "around", "because", "before", "between",
  "change", "close", "country", "different", "earth", "enough", "every", "family",
  "follow", "garden", "great", "house", "important", "kindness", "learn", "letter",
  "light", "little", "morning", "mountain", "music", "neighbour", "never", "nothing",
  "often", "people", "picture", "question", "quiet", "river", "school", "second",
  "something", "sometimes", "story", "study", "thought", "through", "today",
  "together", "tomorrow", "under", "water", "without", "world", "write", "young",
}

-- report.lua numbers the threads (thread_number), so their bodies never meet.
local counter = 0
local run = tostring(os.time())
local paths = {}
local start = 0

function init(args)
  math.randomseed(os.time() * 100 + (thread_number or 0))
  for p in string.gmatch(os.getenv("BENCH_PATHS") or "", "%S+") do
    paths[#paths + 1] = p
  end
  local n = tonumber(os.getenv("BENCH_WRK_THREADS")) or 1
  start = math.floor(#paths * ((thread_number or 1) - 1) / n)
end

-- A post body no request of this run has sent before (tests/bench/soak.lua
-- sends it too).
function post_body()
  counter = counter + 1
  local n = 6 + math.random(40)
  local parts = {}
  for i = 1, n do
    parts[i] = words[math.random(#words)]
  end
  return string.format('{"body":"Bench %s %d %d: %s."}', run, thread_number or 0,
                       counter, table.concat(parts, " "))
end

function request()
  local body = post_body()
  local path = nil
  if #paths > 0 then
    path = paths[(start + counter) % #paths + 1]
  end
  return wrk.format(nil, path, nil, body)
end
