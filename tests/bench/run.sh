#!/usr/bin/env bash
# tests/bench/run.sh — throughput and latency through the whole stack (TLS,
# nginx, FastCGI, the pool, Redis, PostgreSQL), measured in one run next to a
# reference that measures TLS + nginx alone on the same machine at the same
# moment, so the targets are ratios that survive a change of hardware.
# `make bench` runs it; it exits 1 when a target is missed.
#
# Adding an endpoint to the run: one line in ENDPOINTS below.
#
# Which stack: the development stack ($SOTTO_VAR, default <repo>/var, on
# $SOTTO_HTTPS_PORT) when it runs the current binary with the bench's
# settings (BENCH_SETTINGS), or when nothing of it runs (the bench then starts
# it and stops it at the end). Otherwise (it runs with other settings, or only
# in part) the bench uses its own stack in $BENCH_VAR (default $SOTTO_VAR/bench)
# on $BENCH_HTTPS_PORT/$BENCH_HTTP_PORT (default 8543/8180), started and
# stopped by the bench unless it was already up.
#
# Environment: BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_THREADS (2),
# BENCH_CONNECTIONS (32); SOTTO_VAR, SOTTO_HTTPS_PORT, SOTTO_HTTP_PORT,
# SOTTO_BIN as for scripts/stack.sh. Raw wrk output and a JSON line per
# endpoint go to build/bench/.
set -euo pipefail

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)

# ---- what is measured --------------------------------------------------------
# The reference: nginx answering by itself over TLS (nginx/dev.conf.in).
REFERENCE="static /__bench/static"

# One endpoint per line:  name  path  [target...]
#   min_ratio=R    req/s at least R x the reference's req/s
#   max_p99_ms=M   99th percentile latency below M ms
#   script=FILE    a wrk script (relative to the repository) for method, body
#                  or headers; see tests/bench/report.lua
ENDPOINTS=(
	"config /config min_ratio=0.18 max_p99_ms=5"
)

# The server settings the measured stack must run with: every rate limit out
# of reach, so the bench measures work, not 429s.
BENCH_SETTINGS=(
	SOTTO_RATE_GLOBAL=100000000/1
)

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
OUT=$REPO/build/bench

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v wrk >/dev/null 2>&1 || die "wrk not found (scripts/packages-test.txt)"

# ---- the stack ------------------------------------------------------------------
DEFAULT_VAR=$(realpath -m -- "${SOTTO_VAR:-$REPO/var}")
DEFAULT_HTTPS=${SOTTO_HTTPS_PORT:-8443}
DEFAULT_HTTP=${SOTTO_HTTP_PORT:-8080}
BIN=$(realpath -m -- "${SOTTO_BIN:-$REPO/sotto}")

VAR=""
HTTPS_PORT=""
HTTP_PORT=""
STARTED=0

stack() { # stack.sh with the chosen stack's location and the bench settings
	env SOTTO_VAR="$VAR" SOTTO_HTTPS_PORT="$HTTPS_PORT" SOTTO_HTTP_PORT="$HTTP_PORT" \
		SOTTO_BIN="$BIN" "${BENCH_SETTINGS[@]}" bash "$REPO/scripts/stack.sh" "$@"
}

# all | none | some: how much of the stack at $VAR runs.
stack_state() {
	local out rc=0
	out=$(stack status 2>/dev/null) || rc=$?
	if [ "$rc" = 0 ]; then
		echo all
	elif grep -q ' running ' <<<"$out"; then
		echo some
	else
		echo none
	fi
}

# True when the running server got every bench setting and runs $BIN as built.
stack_fits() {
	local s f=$VAR/run/sotto.settings
	[ -f "$f" ] || return 1
	for s in "${BENCH_SETTINGS[@]}"; do
		grep -qxF -- "$s" "$f" || return 1
	done
	[ ! "$BIN" -nt "$VAR/run/sotto.pid" ]
}

choose_stack() {
	VAR=$DEFAULT_VAR HTTPS_PORT=$DEFAULT_HTTPS HTTP_PORT=$DEFAULT_HTTP
	case $(stack_state) in
	all)
		if stack_fits; then
			say "using the running stack at $VAR"
			return
		fi
		say "the stack at $VAR runs with other settings or an older binary; using a separate one"
		;;
	some)
		say "the stack at $VAR runs in part; using a separate one"
		;;
	none)
		say "starting the stack at $VAR (stopped again at the end)"
		STARTED=1
		stack up >&2 || die "stack.sh up failed"
		return
		;;
	esac
	VAR=$(realpath -m -- "${BENCH_VAR:-$DEFAULT_VAR/bench}")
	HTTPS_PORT=${BENCH_HTTPS_PORT:-8543}
	HTTP_PORT=${BENCH_HTTP_PORT:-8180}
	if [ "$(stack_state)" = all ] && stack_fits; then
		say "using the running bench stack at $VAR"
		return
	fi
	say "starting a bench stack at $VAR on port $HTTPS_PORT (stopped again at the end)"
	STARTED=1
	stack up >&2 || die "stack.sh up failed"
}

cleanup() {
	if [ "$STARTED" = 1 ]; then
		STARTED=0
		say "stopping the stack at $VAR"
		stack down >&2 || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- measuring ------------------------------------------------------------------
json_num() { # key json -> number
	sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" <<<"$2"
}

# run_wrk name path script duration -> the JSON line of report.lua
run_wrk() {
	local name=$1 path=$2 script=$3 duration=$4 raw
	raw=$(BENCH_NAME=$name BENCH_SCRIPT=$script wrk -t"$THREADS" -c"$CONNECTIONS" \
		-d"$duration" --latency -s "$REPO/tests/bench/report.lua" \
		"https://127.0.0.1:$HTTPS_PORT$path" 2>&1) || {
		printf '%s\n' "$raw" >&2
		die "wrk failed on $path"
	}
	printf '%s\n' "$raw" >"$OUT/$name.wrk.txt"
	grep '^{"name":' <<<"$raw" | tail -n 1
}

declare -A RESULT

measure() { # name path script
	local name=$1 path=$2 script=$3 code
	code=$(curl -ks -o /dev/null -w '%{http_code}' --max-time 5 "https://127.0.0.1:$HTTPS_PORT$path" || true)
	[ "$code" = 200 ] || die "GET $path answers ${code:-nothing}, not 200"
	run_wrk "$name" "$path" "$script" "$WARMUP" >/dev/null
	RESULT[$name]=$(run_wrk "$name" "$path" "$script" "$DURATION")
	[ -n "${RESULT[$name]}" ] || die "no result from wrk for $path (see $OUT/$name.wrk.txt)"
	printf '%s\n' "${RESULT[$name]}" >>"$OUT/results.jsonl"
}

# target name what value op limit unit: record PASS/FAIL of `value op limit`
# (op ">=" or "<") in main's checks and failed (bash dynamic scope).
target() {
	local name=$1 what=$2 value=$3 op=$4 limit=$5 unit=$6 inverse
	case $op in ">=") inverse="<" ;; "<") inverse=">=" ;; esac
	if awk -v v="$value" -v m="$limit" -v op="$op" \
		'BEGIN { exit !(op == ">=" ? v >= m : v < m) }'; then
		checks+=("PASS $name: $what $op $limit$unit")
	else
		checks+=("FAIL $name: $what $inverse $limit$unit")
		failed=1
	fi
}

main() {
	local line name path targets t script ref_rps rps p50 p99 ratio
	local failed=0 checks=()
	mkdir -p "$OUT"
	: >"$OUT/results.jsonl"
	choose_stack

	say "wrk: $THREADS threads, $CONNECTIONS connections, ${WARMUP} warm-up + ${DURATION} per endpoint," \
		"$(nproc) CPUs, stack at https://127.0.0.1:$HTTPS_PORT"
	read -r name path <<<"$REFERENCE"
	measure "$name" "$path" ""
	ref_rps=$(json_num rps "${RESULT[$name]}")

	printf '\n%-14s %12s %9s %9s %10s\n' endpoint req/s "p50 ms" "p99 ms" "vs ref"
	printf '%-14s %12s %9s %9s %10s\n' "$name (ref)" "$ref_rps" \
		"$(json_num p50_ms "${RESULT[$name]}")" "$(json_num p99_ms "${RESULT[$name]}")" 1.00

	for line in "${ENDPOINTS[@]}"; do
		read -r name path targets <<<"$line"
		script=""
		for t in $targets; do
			case $t in script=*) script=$REPO/${t#script=} ;; esac
		done
		measure "$name" "$path" "$script"
		rps=$(json_num rps "${RESULT[$name]}")
		p50=$(json_num p50_ms "${RESULT[$name]}")
		p99=$(json_num p99_ms "${RESULT[$name]}")
		ratio=$(awk -v a="$rps" -v b="$ref_rps" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
		printf '%-14s %12s %9s %9s %10s\n' "$name" "$rps" "$p50" "$p99" "$ratio"

		local non2xx timeouts
		non2xx=$(json_num non_2xx_3xx "${RESULT[$name]}")
		timeouts=$(json_num timeouts "${RESULT[$name]}")
		if [ "$non2xx" != 0 ] || [ "$timeouts" != 0 ]; then
			checks+=("FAIL $name: $non2xx responses not 2xx/3xx, $timeouts timeouts (see $OUT/$name.wrk.txt)")
			failed=1
		fi
		for t in $targets; do
			case $t in
			min_ratio=*)
				target "$name" "req/s $ratio x reference" "$ratio" ">=" "${t#min_ratio=}" ""
				;;
			max_p99_ms=*)
				target "$name" "p99 $p99 ms" "$p99" "<" "${t#max_p99_ms=}" " ms"
				;;
			script=*) ;;
			*) die "unknown target '$t' for $name" ;;
			esac
		done
	done

	printf '\n'
	printf '%s\n' "${checks[@]}"
	printf '\nraw wrk output and results.jsonl: %s\n' "$OUT"
	return "$failed"
}

main
