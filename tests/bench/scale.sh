#!/usr/bin/env bash
# tests/bench/scale.sh — does the feed stay as fast when the posts table is a
# hundred times larger? `make bench-scale` runs it; it exits 1 when a target
# is missed or the feed could not be measured.
#
#   1. its own stack ($SCALE_VAR), emptied: every account, and with them
#      every post, vote and community, is deleted (TRUNCATE ... CASCADE);
#   2. `sotto bench-data` fills it to SCALE_SMALL top-level posts (plus
#      replies and votes); wrk measures GET /feed?sort=ranked and ?sort=new
#      (20 posts a page, anonymous);
#   3. filled to SCALE_LARGE top-level posts; measured again (each size once
#      `sotto moderate` has scored every post, so it does not share the CPU);
#   4. the ratio of the p50 latencies, large over small, per sort order:
#      target at most SCALE_MAX_RATIO; any error wrk counts (an answer not
#      2xx/3xx, a connect, read or write error, a timeout) fails the size
#      and order it came from, and so does a page of fewer than 20 items
#      (checked just before and just after each measurement);
#   5. EXPLAIN (ANALYZE, BUFFERS) at the large size: of the feed's access
#      paths (tests/bench/feed-explain.sql, needs no server), and of the
#      statements the server itself runs for the feed pages (auto_explain,
#      loaded for the server's sessions while it serves a few pages, then
#      unloaded). Target: every plan that reads posts uses an index, none
#      scans the table. auto_explain writes those plans, with the values of
#      their parameters, to the stack's pg.log: synthetic data only, on a
#      stack of its own.
#
# Before the posts/feed handlers exist, GET /feed answers 404: the script says
# so, still fills the database and prints the access paths, and exits 1.
#
# Environment: SCALE_SMALL (10000), SCALE_LARGE (1000000), SCALE_ACCOUNTS
# (100), SCALE_MAX_RATIO (1.5), SCALE_DURATION (10s), SCALE_WARMUP (2s),
# SCALE_SETTLE_S (900),
# SCALE_CONNECTIONS (8), SCALE_THREADS (2); SCALE_VAR (default
# $SOTTO_VAR/scale, i.e. <repo>/var/scale), SCALE_HTTPS_PORT (8643),
# SCALE_HTTP_PORT (8280); SOTTO_BIN as for scripts/stack.sh. The stack is
# started and stopped again unless it was already up; its data stays.
# Raw wrk output goes to build/bench/scale/.
set -euo pipefail

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)

SMALL=${SCALE_SMALL:-10000}
LARGE=${SCALE_LARGE:-1000000}
ACCOUNTS=${SCALE_ACCOUNTS:-100}
MAX_RATIO=${SCALE_MAX_RATIO:-1.5}
DURATION=${SCALE_DURATION:-10s}
WARMUP=${SCALE_WARMUP:-2s}
CONNECTIONS=${SCALE_CONNECTIONS:-8}
THREADS=${SCALE_THREADS:-2}
VAR=$(realpath -m -- "${SCALE_VAR:-$(realpath -m -- "${SOTTO_VAR:-$REPO/var}")/scale}")
HTTPS_PORT=${SCALE_HTTPS_PORT:-8643}
HTTP_PORT=${SCALE_HTTP_PORT:-8280}
BIN=$(realpath -m -- "${SOTTO_BIN:-$REPO/sotto}")
OUT=$REPO/build/bench/scale
SORTS="ranked new"

# No limit or proof of work may answer instead of the feed, or refuse the
# account whose feed pages show the statements of a signed-in reader. And
# every first page of the ranked feed ranks afresh instead of sharing a
# recent snapshot, so the ranking query is in the figures at each size.
SCALE_SETTINGS=(
	SOTTO_RATE_GLOBAL=100000000/1
	SOTTO_RATE_REGISTER=100000000/1
	SOTTO_POW_REGISTER=0
	SOTTO_FEED_SNAPSHOT_SHARE=0
)

say() { printf 'scale: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v wrk >/dev/null 2>&1 || die "wrk not found (scripts/packages-test.txt)"
command -v psql >/dev/null 2>&1 || die "psql not found (package postgresql-client-15)"
if ! [[ $SMALL =~ ^[1-9][0-9]*$ && $LARGE =~ ^[1-9][0-9]*$ ]] || [ "$SMALL" -ge "$LARGE" ]; then
	die "SCALE_SMALL and SCALE_LARGE must be whole numbers, SCALE_SMALL < SCALE_LARGE"
fi

# ---- the stack --------------------------------------------------------------------
STARTED=0
stack() {
	env SOTTO_VAR="$VAR" SOTTO_HTTPS_PORT="$HTTPS_PORT" SOTTO_HTTP_PORT="$HTTP_PORT" \
		SOTTO_BIN="$BIN" "${SCALE_SETTINGS[@]}" bash "$REPO/scripts/stack.sh" "$@"
}

start_stack() {
	if stack status >/dev/null 2>&1; then
		say "using the running stack at $VAR"
	else
		say "starting a stack at $VAR on port $HTTPS_PORT (stopped again at the end)"
		STARTED=1
	fi
	# up restarts a server started with other settings or an older binary.
	stack up >&2 || die "stack.sh up failed"
}

# The server's own settings file names its database.
DB_URL=""
find_db_url() {
	DB_URL=$(sed -n 's/^DATABASE_URL=//p' "$VAR/sotto.env" 2>/dev/null | tail -n 1)
	[ -n "$DB_URL" ] || die "no DATABASE_URL in $VAR/sotto.env"
}

sql() { # psql arguments -> unaligned output
	psql "$DB_URL" -XAtq -v ON_ERROR_STOP=1 "$@"
}

top_level_posts() {
	sql -c "SELECT count(*) FROM posts WHERE parent_pk IS NULL"
}

# Fill to $1 top-level posts with bench-data, in the server's environment.
fill_to() {
	local have need
	have=$(top_level_posts) || die "cannot count the posts"
	need=$(($1 - have))
	[ "$need" -gt 0 ] || return 0
	say "adding $need top-level posts to the $have there (sotto bench-data $need $ACCOUNTS)"
	env "${SCALE_SETTINGS[@]}" SOTTO_ENV_FILE="$VAR/sotto.env" DATABASE_URL="$DB_URL" \
		"$BIN" bench-data "$need" "$ACCOUNTS" 2>&1 | grep --line-buffered -v '^{' >&2
	[ "${PIPESTATUS[0]}" = 0 ] || die "sotto bench-data failed"
}

# The moderator scores every new post, bench-data's included: a million of
# them keep it busy for a while, and the feed measured meanwhile would share
# the CPU with it. Wait (at most SCALE_SETTLE_S, default 900 s) until it has
# scored them all, so each size is measured at rest.
settle() {
	local pending deadline=$((SECONDS + ${SCALE_SETTLE_S:-900}))
	while :; do
		pending=$(sql -c "SELECT count(*) FROM mod_scan WHERE score IS NULL") ||
			die "cannot count the posts waiting for the moderator"
		[ "$pending" != 0 ] || return 0
		[ "$SECONDS" -lt "$deadline" ] ||
			die "the moderator still has $pending posts to score after ${SCALE_SETTLE_S:-900} s"
		sleep 2
	done
}

# ---- measuring --------------------------------------------------------------------
FEED_OK=1
declare -A P50 RPS P99

json_num() { sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" <<<"$2"; }

# The reader's token, in a private file: never on a command line.
AUTH_DIR=""
status_of() { # path [--auth] -> HTTP status
	local auth=()
	[ "${2-}" != --auth ] || auth=(-H "@$AUTH_DIR/header")
	curl -ks -o /dev/null -w '%{http_code}' --max-time 10 "${auth[@]}" \
		"https://127.0.0.1:$HTTPS_PORT$1" || echo 000
}

# The number of items of the page at path, or nothing when it has no list.
page_items() {
	curl -ks --max-time 10 "https://127.0.0.1:$HTTPS_PORT$1" | /usr/bin/python3 -c \
		'import json, sys; print(len(json.load(sys.stdin)["items"]))' 2>/dev/null || true
}

# check_items what path: a FAIL in main's checks unless the page lists 20 items.
check_items() {
	local items
	items=$(page_items "$2")
	[ "${items:-0}" -lt 20 ] || return 0
	checks+=("FAIL $1: GET $2 lists ${items:-no} items, not 20")
	failed=1
}

# Measure both sort orders at the current size, labelled $1.
measure() {
	local size=$1 sort path status raw line duration kind n errors
	[ "$FEED_OK" = 1 ] || return 0
	for sort in $SORTS; do
		path="/feed?sort=$sort&limit=20"
		status=$(status_of "$path")
		if [ "$status" != 200 ]; then
			if [ "$status" = 404 ] || [ "$status" = 501 ]; then
				say "GET $path answers $status: this build of $BIN has no feed yet;" \
					"not measuring it (the fill and the access paths go on)"
			else
				say "GET $path answers $status, not 200; not measuring it"
			fi
			FEED_OK=0
			return 0
		fi
		check_items "feed $sort at $size posts, before" "$path"
		for duration in "$WARMUP" "$DURATION"; do
			raw=$(BENCH_NAME="feed-$sort-$size" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" \
				--latency -s "$REPO/tests/bench/report.lua" \
				"https://127.0.0.1:$HTTPS_PORT$path" 2>&1) || {
				printf '%s\n' "$raw" >&2
				die "wrk failed on $path"
			}
		done
		printf '%s\n' "$raw" >"$OUT/feed-$sort-$size.wrk.txt"
		check_items "feed $sort at $size posts, after" "$path"
		line=$(grep '^{"name":' <<<"$raw" | tail -n 1)
		[ -n "$line" ] || die "no result from wrk (see $OUT/feed-$sort-$size.wrk.txt)"
		errors=""
		for kind in non_2xx_3xx connect_errors read_errors write_errors timeouts; do
			n=$(json_num "$kind" "$line")
			[ "${n:-0}" = 0 ] || errors+="${errors:+, }$n $kind"
		done
		if [ -n "$errors" ]; then
			checks+=("FAIL feed $sort at $size posts: $errors (see $OUT/feed-$sort-$size.wrk.txt)")
			failed=1
		fi
		P50[$sort-$size]=$(json_num p50_ms "$line")
		P99[$sort-$size]=$(json_num p99_ms "$line")
		RPS[$sort-$size]=$(json_num rps "$line")
		printf '%-10s %-7s %11s %9s %9s\n' "$size" "$sort" "${RPS[$sort-$size]}" \
			"${P50[$sort-$size]}" "${P99[$sort-$size]}"
	done
}

# ---- plans ------------------------------------------------------------------------
# Plans that read posts: an index, never the whole table. $1: plan text.
check_plans() {
	local what=$1 text=$2
	if grep -q 'Seq Scan on posts' <<<"$text"; then
		checks+=("FAIL plans ($what): a sequential scan of posts")
		failed=1
	elif grep -Eq 'Index (Only )?Scan( Backward)? using posts_' <<<"$text"; then
		checks+=("PASS plans ($what): posts read through its indexes")
	else
		checks+=("FAIL plans ($what): no index scan of posts found")
		failed=1
	fi
}

explain_paths() {
	local text
	printf '\n== EXPLAIN (ANALYZE, BUFFERS): the feed access paths (tests/bench/feed-explain.sql)\n'
	text=$(sql -f "$REPO/tests/bench/feed-explain.sql" 2>&1) || {
		printf '%s\n' "$text"
		checks+=("FAIL plans (access paths): feed-explain.sql failed")
		failed=1
		return 0
	}
	printf '%s\n' "$text"
	check_plans "access paths" "$text"
}

AUTO_EXPLAIN_ON=0
auto_explain() { # on | off: for the server's sessions, which reconnect
	if [ "$1" = on ]; then
		sql -c "ALTER DATABASE sotto SET session_preload_libraries = 'auto_explain'" \
			-c "ALTER DATABASE sotto SET auto_explain.log_min_duration = 0" \
			-c "ALTER DATABASE sotto SET auto_explain.log_analyze = on" \
			-c "ALTER DATABASE sotto SET auto_explain.log_buffers = on" >/dev/null
		AUTO_EXPLAIN_ON=1
	else
		AUTO_EXPLAIN_ON=0
		sql -c "ALTER DATABASE sotto RESET session_preload_libraries" \
			-c "ALTER DATABASE sotto RESET auto_explain.log_min_duration" \
			-c "ALTER DATABASE sotto RESET auto_explain.log_analyze" \
			-c "ALTER DATABASE sotto RESET auto_explain.log_buffers" >/dev/null
	fi
	# The pool's workers reconnect on their next request, with the new settings.
	sql -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	        WHERE datname = 'sotto' AND application_name = 'sotto'" >/dev/null
}

# A page's next_cursor, or nothing. [--auth] as for status_of.
next_cursor() {
	local auth=()
	[ "${2-}" != --auth ] || auth=(-H "@$AUTH_DIR/header")
	curl -ks --max-time 10 "${auth[@]}" "https://127.0.0.1:$HTTPS_PORT$1" | /usr/bin/python3 -c \
		'import json, sys; print(json.load(sys.stdin).get("next_cursor") or "")' 2>/dev/null || true
}

# A reader account (password accounts need no proof of work here), so the
# plans include what a signed-in reader's page runs (mine, my_vote).
reader_register() {
	AUTH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sotto-scale.XXXXXX")
	printf '{"password":"scale-%s"}' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
		>"$AUTH_DIR/register.json"
	curl -ks --max-time 10 -H 'Content-Type: application/json' \
		--data-binary "@$AUTH_DIR/register.json" "https://127.0.0.1:$HTTPS_PORT/auth/register" |
		/usr/bin/python3 -c 'import json, sys; print("Authorization: Bearer " + json.load(sys.stdin)["token"])' \
			>"$AUTH_DIR/header" 2>/dev/null || {
		say "could not register a reader account; plans for anonymous pages only"
		rm -rf -- "$AUTH_DIR"
		AUTH_DIR=""
	}
}
# DELETE /me asks for the password again: the register body holds it.
reader_delete() {
	[ -n "$AUTH_DIR" ] || return 0
	[ "$(curl -ks -o /dev/null -w '%{http_code}' --max-time 10 -X DELETE -H "@$AUTH_DIR/header" \
		-H 'Content-Type: application/json' --data-binary "@$AUTH_DIR/register.json" \
		"https://127.0.0.1:$HTTPS_PORT/me")" = 204 ] || say "warning: the reader account stays"
	rm -rf -- "$AUTH_DIR"
	AUTH_DIR=""
}

# The plans PostgreSQL logged for the server's statements since byte $1 of
# pg.log: those that read posts, each shape once (the same statement and
# plan with other numbers is left out).
logged_plans() {
	tail -c +"$(($1 + 1))" -- "$VAR/log/pg.log" | awk '
		function flush(  shape) {
			shape = rec
			gsub(/[0-9][0-9.:-]*/, "", shape)
			if (keep && !(shape in seen)) { printf "%s", rec; seen[shape] = 1 }
			rec = ""; keep = 0; inrec = 0
		}
		/LOG:  duration: .* plan:/ { flush(); rec = $0 "\n"; inrec = 1; next }
		inrec && /^\t/ { rec = rec $0 "\n"; if ($0 ~ /posts/) keep = 1; next }
		{ flush() }
		END { flush() }'
}

explain_server() {
	local offset sort cursor status i text who
	printf '\n== The server'"'"'s own feed statements (auto_explain: EXPLAIN ANALYZE, BUFFERS)\n'
	reader_register
	offset=$(stat -c %s -- "$VAR/log/pg.log")
	auto_explain on
	for who in "" ${AUTH_DIR:+--auth}; do
		for sort in $SORTS; do
			# The first request after the reconnect may find its connection gone.
			for ((i = 0; i < 5; i++)); do
				status=$(status_of "/feed?sort=$sort&limit=20" "$who")
				[ "$status" = 200 ] && break
				sleep 0.2
			done
			cursor=$(next_cursor "/feed?sort=$sort&limit=20" "$who")
			[ -z "$cursor" ] || status_of "/feed?sort=$sort&limit=20&cursor=$cursor" "$who" >/dev/null
		done
	done
	auto_explain off
	reader_delete
	text=$(logged_plans "$offset")
	if [ -z "$text" ]; then
		printf '(no plan reading posts was logged; see %s)\n' "$VAR/log/pg.log"
		checks+=("FAIL plans (server): none logged")
		failed=1
		return 0
	fi
	printf '%s\n' "$text"
	check_plans "server" "$text"
}

# ---- main -------------------------------------------------------------------------
cleanup() {
	[ "$AUTO_EXPLAIN_ON" = 0 ] || auto_explain off || true
	reader_delete || true
	if [ "$STARTED" = 1 ]; then
		STARTED=0
		say "stopping the stack at $VAR"
		stack down >&2 || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

main() {
	local failed=0 checks=() sort ratio
	mkdir -p "$OUT"
	start_stack
	find_db_url
	say "emptying the stack's database (every account, post, vote and community)"
	sql -c "TRUNCATE accounts RESTART IDENTITY CASCADE" >/dev/null 2>&1 ||
		die "cannot empty the stack's database"
	fill_to "$SMALL"
	settle
	printf '\n%-10s %-7s %11s %9s %9s\n' posts sort req/s "p50 ms" "p99 ms"
	measure "$SMALL"
	fill_to "$LARGE"
	say "waiting for the moderator to score the new posts"
	settle
	measure "$LARGE"
	printf '\n'
	if [ "$FEED_OK" = 1 ]; then
		for sort in $SORTS; do
			ratio=$(awk -v a="${P50[$sort-$LARGE]}" -v b="${P50[$sort-$SMALL]}" \
				'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
			if awk -v r="$ratio" -v m="$MAX_RATIO" 'BEGIN { exit !(r <= m) }'; then
				checks+=("PASS feed $sort: p50 at $LARGE posts is $ratio x p50 at $SMALL (<= $MAX_RATIO)")
			else
				checks+=("FAIL feed $sort: p50 at $LARGE posts is $ratio x p50 at $SMALL (> $MAX_RATIO)")
				failed=1
			fi
		done
	else
		checks+=("FAIL feed: not measured (GET /feed does not answer 200)")
		failed=1
	fi
	explain_paths
	if [ "$FEED_OK" = 1 ]; then
		explain_server
	fi
	printf '\n'
	printf '%s\n' "${checks[@]}"
	printf '\nraw wrk output: %s\n' "$OUT"
	return "$failed"
}

main
