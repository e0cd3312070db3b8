-- tests/bench/refresh.lua — POST /auth/refresh for tests/bench/run.sh
-- (loaded by report.lua). A refresh token works once, so every request
-- sends the token the previous answer of that session gave. BENCH_REFRESH
-- names a file of fresh refresh tokens, one session a line, as many as
-- connections (made by run.sh just before the run); each thread takes its
-- own share (report.lua's thread_lines). A connection takes a free
-- token when it sends and gives the answer's back, so no token is ever
-- sent twice, whichever of the thread's connections sends it.

local free = {}

function init(args)
  free = thread_lines(os.getenv("BENCH_REFRESH"))
end

function request()
  local token = table.remove(free)
  if token == nil then
    used_up = 1         -- a session was lost to an error: nothing left to send
    wrk.thread:stop()
    token = "lost"
  end
  return wrk.format(nil, nil, nil, string.format('{"refresh_token":"%s"}', token))
end

function response(status, headers, body)
  local token = status == 200 and body:match('"refresh_token":"([^"]+)"')
  if token then
    free[#free + 1] = token
  end
end
