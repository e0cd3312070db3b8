-- tests/bench/dpop.lua — a DPoP-bound token for tests/bench/run.sh (loaded
-- by report.lua): "Authorization: DPoP <BENCH_DPOP_TOKEN>" and, on every
-- request, a proof of its own from BENCH_PROOFS (one a line, made for this
-- very request by tests/bench/dpop.py just before the run). Each thread
-- takes its own share (report.lua's thread_lines): no proof is sent twice.
-- A thread that has used up its share stops and says so (used_up, which
-- report.lua counts and run.sh fails the line on): a run never measures
-- replays, nor the size of its own supply.

local proofs = {}
local next_proof = 1

function init(args)
  proofs = thread_lines(os.getenv("BENCH_PROOFS"))
  wrk.headers["Authorization"] = "DPoP " .. os.getenv("BENCH_DPOP_TOKEN")
end

function request()
  local p = proofs[next_proof]
  if p == nil then
    used_up = 1
    wrk.thread:stop()
    p = "used-up"
  end
  next_proof = next_proof + 1
  wrk.headers["DPoP"] = p
  return wrk.format(nil, nil, wrk.headers, nil)
end
