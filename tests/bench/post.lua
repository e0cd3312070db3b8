-- tests/bench/post.lua — POST /posts for tests/bench/run.sh (loaded by
-- report.lua): every request carries a different body, so the guardrails
-- see fresh text each time and the bench measures writes, not 422s. The
-- method, Content-Type and bearer token come from report.lua.

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

function init(args)
  math.randomseed(os.time() * 100 + (thread_number or 0))
end

function request()
  counter = counter + 1
  local n = 6 + math.random(40)
  local parts = {}
  for i = 1, n do
    parts[i] = words[math.random(#words)]
  end
  local body = string.format('{"body":"Bench %s %d %d: %s."}', run, thread_number or 0,
                             counter, table.concat(parts, " "))
  return wrk.format(nil, nil, nil, body)
end
