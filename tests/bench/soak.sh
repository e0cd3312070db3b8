#!/usr/bin/env bash
# tests/bench/soak.sh — does the pool's memory stay flat under hours of
# mixed traffic? `make soak` runs it (not in CI: it takes SOAK_MINUTES); it
# exits 1 when it does not.
#
# It reuses tests/bench/run.sh (sourced: the stack, the bench settings, the
# bench account, wrk with report.lua) and runs, for SOAK_MINUTES, one wrk
# with tests/bench/soak.lua: anonymous and signed-in feed pages, GET /me,
# GET /events and POST /posts, so new posts keep arriving under the feed's
# readers. Every SOAK_SAMPLE_S seconds it writes each worker's proportional
# set size (Pss of /proc/PID/smaps_rollup), its open file descriptors and
# its heap as the worker reports it on /metrics (sotto_worker_heap_bytes)
# to build/bench/soak.csv, and prints a short table at the end.
#
# It fails on any error wrk counts (an answer that is not 2xx/3xx, a
# connect, read or write error, a timeout), on a worker that died or was
# replaced during the run (its memory would start again from nothing), and
# on the pool's PSS growing by more than SOAK_MAX_GROWTH_PCT (5) percent
# between the end of the first five minutes (the warm-up: caches fill,
# connections open; half the run when it is shorter than ten minutes) and
# the end.
#
# The stack: its own ($BENCH_VAR, default $SOTTO_VAR/soak, on
# $BENCH_HTTPS_PORT/$BENCH_HTTP_PORT, default 8743/8380), with the bench
# settings; the server is restarted at the start so the figures are the
# soak's alone. Started and stopped by the soak unless it was already up.
#
# Environment: SOAK_MINUTES (30), SOAK_SAMPLE_S (10), SOAK_MAX_GROWTH_PCT
# (5), SOAK_CONNECTIONS (8), SOAK_SEGMENT_S (600: wrk runs in segments
# shorter than an access token's life, each with a fresh login's token),
# BENCH_THREADS (2), BENCH_FEED_POSTS (2000);
# BENCH_VAR, BENCH_HTTPS_PORT, BENCH_HTTP_PORT, SOTTO_BIN.
set -euo pipefail

# shellcheck source=tests/bench/run.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/run.sh"

say() { printf 'soak: %s\n' "$*" >&2; }

MINUTES=${SOAK_MINUTES:-30}
SAMPLE_S=${SOAK_SAMPLE_S:-10}
MAX_GROWTH=${SOAK_MAX_GROWTH_PCT:-5}
[[ $MINUTES =~ ^[1-9][0-9]*$ ]] || die "SOAK_MINUTES must be a whole number of minutes"
[[ $SAMPLE_S =~ ^[1-9][0-9]*$ ]] || die "SOAK_SAMPLE_S must be a whole number of seconds"
RUN_S=$((MINUTES * 60))
BASELINE_S=$((RUN_S >= 600 ? 300 : RUN_S / 2))
CSV=$OUT/soak.csv

# The soak's own stack, the server started afresh with the bench settings.
soak_stack() {
	VAR=$(realpath -m -- "${BENCH_VAR:-$DEFAULT_VAR/soak}")
	HTTPS_PORT=${BENCH_HTTPS_PORT:-8743}
	HTTP_PORT=${BENCH_HTTP_PORT:-8380}
	if [ "$(stack_state)" = none ]; then
		say "starting a stack at $VAR on port $HTTPS_PORT (stopped again at the end)"
		STARTED=1
	else
		say "restarting the server of the stack at $VAR"
		stack stop sotto >&2 || die "stack.sh stop sotto failed"
	fi
	stack up >&2 || die "stack.sh up failed"
}

workers() { # the pids of the pool's workers, one a line
	pgrep -P "$(cat "$VAR/run/sotto.pid")" | sort -n
}

# heap_bytes -> "pid used free" lines: each worker's heap as it reports it
# on /metrics (bytes in use, bytes malloc holds unused), by pool slot.
heap_bytes() {
	curl -ks --max-time 10 "https://127.0.0.1:$HTTPS_PORT/metrics" | awk '
		/^sotto_worker_(pid|heap_bytes|heap_free_bytes)\{worker="/ {
			slot = $1; sub(/.*worker="/, "", slot); sub(/".*/, "", slot)
			name = $1; sub(/\{.*/, "", name)
			v[name, slot] = $2; slots[slot] = 1
		}
		END {
			for (s in slots)
				print v["sotto_worker_pid", s], v["sotto_worker_heap_bytes", s],
					v["sotto_worker_heap_free_bytes", s]
		}'
}

# sample t: one CSV row per worker (SOAK_COLUMNS).
SOAK_COLUMNS=t_s,pid,pss_kib,pss_anon_kib,pss_file_kib,pss_shmem_kib,private_dirty_kib,fds,heap_used,heap_free
sample() {
	local pid mem fds used free
	declare -A heaps=()
	while read -r pid used free; do
		heaps[$pid]=$used,$free
	done < <(heap_bytes || true)
	for pid in $(workers); do
		mem=$(awk '/^(Pss|Pss_Anon|Pss_File|Pss_Shmem|Private_Dirty):/ { v[$1] = $2 }
			END { printf "%d,%d,%d,%d,%d", v["Pss:"], v["Pss_Anon:"], v["Pss_File:"],
				v["Pss_Shmem:"], v["Private_Dirty:"] }' "/proc/$pid/smaps_rollup" 2>/dev/null) ||
			continue
		fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
		printf '%s,%s,%s,%s,%s\n' "$1" "$pid" "$mem" "$fds" "${heaps[$pid]:-,}"
	done
}

# sampler: until killed, a sample every SAMPLE_S seconds into $CSV.
sampler() {
	local t0=$SECONDS
	trap - EXIT INT TERM
	while :; do
		sample $((SECONDS - t0)) >>"$CSV"
		sleep "$SAMPLE_S"
	done
}

# report wrk_json pids_at_start: the table, then PASS/FAIL lines; returns 1
# on a failure.
report() {
	/usr/bin/python3 - "$CSV" "$BASELINE_S" "$MAX_GROWTH" "$1" "$2" <<'EOF'
import csv, json, sys

path, baseline_s, max_growth, wrk, start_pids = sys.argv[1:]
baseline_s, max_growth = int(baseline_s), float(max_growth)
rows = {}
for r in csv.DictReader(open(path)):
    rows.setdefault(int(r["t_s"]), []).append(r)
times = sorted(rows)
if not times:
    print("FAIL soak: no samples"); sys.exit(1)

def total(t, col):
    """The pool's sum of a column at sample t (None when a worker lacks it)."""
    vals = [r[col] for r in rows[t]]
    return None if "" in vals else sum(int(v) for v in vals)

def mib(v, unit=1024):
    return "-" if v is None else "%.2f" % (v / unit)

base = max([t for t in times if t <= baseline_s] or times[:1])
end = times[-1]
step = max(60, (end // 6 // 60) * 60)
shown = sorted({times[0], base, end} | {max(t for t in times if t <= s)
                                         for s in range(step, end, step)})
print("\n%6s %9s %9s %9s %9s %9s %5s   (MiB, the pool's workers together)"
      % ("minute", "PSS", "anon", "file", "heap", "heap free", "fds"))
for t in shown:
    print("%6.1f %9s %9s %9s %9s %9s %5d%s" % (
        t / 60, mib(total(t, "pss_kib")), mib(total(t, "pss_anon_kib")),
        mib(total(t, "pss_file_kib")), mib(total(t, "heap_used"), 1048576),
        mib(total(t, "heap_free"), 1048576), total(t, "fds"),
        "  <- end of warm-up" if t == base and t != end else ""))

failed = False
w = json.loads(wrk)
errors = {k: w.get(k, 0) for k in ("non_2xx_3xx", "connect_errors", "read_errors",
                                   "write_errors", "timeouts")}
print("\nwrk: %d requests in %.0f s, %.1f req/s, p50 %.1f ms, p99 %.1f ms"
      % (w["requests"], w["seconds"], w["rps"], w["p50_ms"], w["p99_ms"]))
bad = ", ".join("%d %s" % (n, k) for k, n in errors.items() if n)
if bad:
    print("FAIL soak: %s" % bad); failed = True
else:
    print("PASS soak: every request answered 2xx, no socket error")
if {r["pid"] for r in rows[end]} != set(start_pids.split()):
    print("FAIL soak: workers died or were replaced during the run"); failed = True
b, e = total(base, "pss_kib"), total(end, "pss_kib")
growth = (e - b) * 100.0 / b if b else 0.0
verdict = "PASS" if growth <= max_growth else "FAIL"
failed |= verdict == "FAIL"
print("%s soak: pool PSS %.2f -> %.2f MiB from minute %.1f to %.1f (%+.1f %%, limit %g %%);"
      " fds %d -> %d" % (verdict, b / 1024, e / 1024, base / 60, end / 60, growth, max_growth,
                         total(base, "fds"), total(end, "fds")))
sys.exit(1 if failed else 0)
EOF
}

# A session's access token lives 15 minutes (docs/accounts.md): wrk runs
# in segments of at most SOAK_SEGMENT_S seconds, each with the token of a
# fresh login of the soak account.
SEGMENT_S=${SOAK_SEGMENT_S:-600}
if ! [[ $SEGMENT_S =~ ^[1-9][0-9]*$ ]] || [ "$SEGMENT_S" -ge 900 ]; then
	die "SOAK_SEGMENT_S must be a whole number of seconds under 900"
fi

# renew_token: a new session of the soak account; its token replaces TOKEN.
renew_token() {
	local reply token
	printf '%s' "${BODY[login]}" >"$SECRETS/login.json"
	reply=$(api POST /auth/login "$SECRETS/login.json")
	[ "$(tail -n 1 <<<"$reply")" = 200 ] || die "POST /auth/login failed (a fresh token)"
	token=$(json_str token "$reply")
	[ -n "$token" ] || die "POST /auth/login: no token in the answer"
	TOKEN=$token
	printf 'Authorization: Bearer %s\n' "$token" >"$SECRETS/auth.header"
}

# run_segments -> one JSON line for the whole run (combine_rounds of
# run.sh over the segments' lines).
run_segments() {
	local done_s=0 seg i=0 segments=""
	while [ "$done_s" -lt "$RUN_S" ]; do
		seg=$((RUN_S - done_s < SEGMENT_S ? RUN_S - done_s : SEGMENT_S))
		i=$((i + 1))
		[ "$i" = 1 ] || renew_token
		segments+=$(run_wrk "soak.$i" /feed "${seg}s")$'\n' || return 1
		done_s=$((done_s + seg))
	done
	printf '%s' "$segments" | combine_rounds soak ""
}

soak_main() {
	local sampler_pid pids wrk_json rc=0
	mkdir -p "$OUT"
	soak_stack
	find_db_url
	setup_account
	seed_posts
	seed_events
	REQ_SCRIPT=$REPO/tests/bench/soak.lua REQ_AUTH=bearer
	REQ_CONNECTIONS=${SOAK_CONNECTIONS:-8}
	pids=$(workers | tr '\n' ' ')
	say "wrk: $THREADS threads, $REQ_CONNECTIONS connections, $MINUTES minutes of mixed traffic" \
		"(tests/bench/soak.lua); a sample every $SAMPLE_S s into $CSV"
	printf '%s\n' "$SOAK_COLUMNS" >"$CSV"
	sampler &
	sampler_pid=$!
	wrk_json=$(run_segments) || rc=1
	sample "$RUN_S" >>"$CSV"
	kill "$sampler_pid" 2>/dev/null || true
	wait "$sampler_pid" 2>/dev/null || true
	[ "$rc" = 0 ] || die "wrk failed"
	report "$wrk_json" "$pids"
}

soak_main
