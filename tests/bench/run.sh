#!/usr/bin/env bash
# tests/bench/run.sh — throughput and latency through the whole stack (TLS,
# nginx, FastCGI, the pool, Redis, PostgreSQL), measured in one run next to a
# reference that measures TLS + nginx alone on the same machine at the same
# moment, so the targets are ratios that survive a change of hardware.
# `make bench` runs it; it exits 1 when a target is missed.
#
# Adding an endpoint to the run: one line in ENDPOINTS below.
#
# Authenticated endpoints use one password account the bench registers on the
# measured stack before measuring (proof of work and the register/login rate
# classes are off there, see BENCH_SETTINGS) and deletes at the end.
#
# The feed needs posts to show: before measuring, the bench tops the stack's
# database up to BENCH_FEED_POSTS visible top-level posts with
# `sotto bench-data` (synthetic accounts and posts, stored and sealed as the
# server stores its own; they stay on the stack).
#
# Writes are measured against the database alone, with pgbench over the
# stack's PostgreSQL unix socket, with as many clients as the server has
# workers and for as long as the endpoints run: `pgbench_post` runs the
# server's own statements for a new post (tests/bench/pgbench-post.sql, kept
# the same as the server's by tests/static/test_bench_post.py), and
# `pgbench` single-row inserts into a scratch table (created and dropped by
# the bench), as a figure of the machine.
#
# Which stack: the development stack ($SOTTO_VAR, default <repo>/var, on
# $SOTTO_HTTPS_PORT) when it runs the current binary with the bench's
# settings (BENCH_SETTINGS), or when nothing of it runs (the bench then starts
# it and stops it at the end). Otherwise (it runs with other settings, or only
# in part) the bench uses its own stack in $BENCH_VAR (default $SOTTO_VAR/bench)
# on $BENCH_HTTPS_PORT/$BENCH_HTTP_PORT (default 8543/8180), started and
# stopped by the bench unless it was already up.
#
# Environment: BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_ROUNDS (4),
# BENCH_THREADS (2), BENCH_CONNECTIONS (32), BENCH_LOGIN_CONNECTIONS (4, at
# most one per core),
# BENCH_FEED_POSTS (2000), BENCH_ONLY (names of the lines to run, space
# separated; the lines they take their ratio from run too, transitively);
# SOTTO_VAR, SOTTO_HTTPS_PORT, SOTTO_HTTP_PORT,
# SOTTO_BIN as for scripts/stack.sh. Raw wrk output and a JSON line per
# endpoint go to build/bench/.
set -euo pipefail

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)

# ---- what is measured --------------------------------------------------------
# The reference: nginx answering by itself over TLS (nginx/dev.conf.in).
REFERENCE="static /__bench/static"

# Password logins are bound by Argon2id, and at most one hash per core runs at
# once (SOTTO_PWHASH_CONCURRENCY's default): more connections than cores would
# measure quick 503s, not logins.
LOGIN_CONNECTIONS=${BENCH_LOGIN_CONNECTIONS:-$(($(nproc) < 4 ? $(nproc) : 4))}

# One endpoint per line:  name  path  [option...]
# Targets (a missed one fails the run):
#   min_ratio=R    req/s at least R x the req/s of the ref line
#   max_p99_ms=M   99th percentile latency below M ms (the worst round's)
#   p99_vs_ref=F   with max_p99_ms=M: when the ref's own p99 in the same
#                  rounds is M ms or more (wrk and the stack share the
#                  machine's cores, and a loaded machine moves both), the
#                  line's p99 may be up to F x the ref's instead; the check
#                  says which of the two applied
# Any error wrk counts on a line or its ref (connect, read, write, timeout,
# an answer that is not 2xx/3xx) or a failed pgbench transaction fails the
# line, whatever its figures.
# Options:
#   ref=NAME       the line the ratio is taken against (default: the static
#                  reference); ref=none for a figure without a ratio. The
#                  ref is measured again alongside the line, in BENCH_ROUNDS
#                  (default 4) rounds in ABBA order, so that a noisy
#                  neighbour slows both sides alike; its figure is the row
#                  NAME@line
#   method=M       HTTP method (default GET)
#   body=NAME      send BODY[NAME] as JSON (set by setup_account)
#   auth=bearer    send the bench account's token
#   auth=dpop      send the bench account's DPoP-bound token (setup_dpop) as
#                  "Authorization: DPoP"; the proofs come from the script
#   prepare=FN     run the function FN before each wrk or pgbench run of the
#                  line (it makes what the run uses up: proofs, refresh
#                  tokens, post rows)
#   connections=N  wrk connections or pgbench clients for this line (default
#                  BENCH_CONNECTIONS); "workers": as many as the server has
#   duration=D     measured time for this line (default BENCH_DURATION)
#   script=FILE    a wrk script (relative to the repository) for anything
#                  else; see tests/bench/report.lua
#   server=NAME=V  the server runs with this setting on top of BENCH_SETTINGS
#                  while the line and its ref are measured (restarted before
#                  them, and with BENCH_SETTINGS alone before the next line
#                  that has none)
#   spread=N       with script=tests/bench/post.lua and @conversation@ in the
#                  path: the requests go round N conversations of the bench
#                  account, each with another author (setup_dm_many)
#   items=N        the answer must list at least N items (checked once before
#                  measuring), so a list endpoint is measured doing its work
#   bans=N         exactly N active IP bans with random tokens on the stack
#                  while this line runs (tests/bench/bans.sql; removed at the
#                  end), waited for until every worker has loaded them
#   blocks=N       the bench account has N blocks (of replies elsewhere,
#                  by other authors) and N/10 muted communities (empty ones
#                  of its own) while this line runs (tests/bench/blocks.sql)
#   versus=M       with bans=N or blocks=N: the ratio is taken against the
#                  same request with M bans or blocks instead (the row
#                  line_vs), in rounds as ref=
#   tool=pgbench   not an HTTP endpoint: pgbench runs the script named as the
#                  path (relative to the repository) against the stack's
#                  PostgreSQL; its transactions per second count as req/s
#                  (a pgbench_post transaction is one post)
# A feed page is 20 posts. With the page cache on, as production runs
# (SOTTO_FEED_SNAPSHOT_SHARE, pinned in BENCH_SETTINGS), a worker answers a
# repeat of a page from the rendered page it keeps for that many seconds
# (and a signed-in reader's votes on it from its own cache entry): `feed`,
# `feed_auth` and `feed_new` mostly measure those hits, held to half the
# rate of GET /config. `feed_uncached` and `feed_auth_uncached` run the
# server with the setting at 0: every first page ranks afresh (one query,
# the snapshot stored in Redis) and opens each of its 20 posts with its
# author's data key; held to 0.4 x GET /config.
# POST /posts (token check, guardrails, the author's data key read and
# unwrapped, seal, insert, triggers) is held to 0.6 x `pgbench_post`: the
# same two statements (the key, the insert), committed the same way, by as
# many pgbench clients as the server has workers, so what the line adds to
# the database's own work is the server's. `pgbench_post` is held to 0.35 x
# `pgbench`, bare single-row inserts into a scratch table by as many
# clients: the cost of the schema itself on the write path (its indexes,
# triggers and the classifier's queue row; tests/bench/write-costs.sh
# measures each one).
# The classifier (`sotto moderate`) opens and scores every new post, the
# pgbench ones included: their ids and sealed bodies are made beforehand by
# `sotto bench-data --post-rows` (prepare=post_rows: a fresh author and
# table of rows for each pgbench run, BENCH_POST_ROWS_RATE (10000) rows a
# second of it; a run that would use more fails on a NULL id), so both sides
# pay for it alike, and the rows are real posts until the bench deletes
# their authors at the end.
# POST /dm/{id}/send (a server-readable body: guardrails, the conversation
# key opened, seal, seq taken under the conversation's row lock, insert, the
# peer's dm.message event: three rows written in one transaction): spread
# over 32 conversations with 32 other authors (`dm_send_many`, the typical
# case) it is held to half the rate of POST /posts; every request into one
# conversation (`dm_send`), queueing on its row lock and on the peer's event
# head, is the worst case, held to a quarter.
# "@conversation@" in its path is the bench conversation (setup_dm), or with
# spread=N each of the N conversations in turn (setup_dm_many).
# POST /groups/{id}/send (shape checks, the group row locked, seq, insert,
# and the fan-out: one coalesced group.message event moved to a new seq for
# every other member, then published to each member's channel) in a group
# of 3, where the send's own statement fans out, is held to half the rate
# of POST /posts, as a direct message is; in a group of 256 the fan-out
# runs in a transaction of its own after the send's commit, covering every
# message committed since the last one, writes 255 events (once per batch
# of messages, not per message), and is held to a quarter. Every
# request goes to one group (its row lock: the worst case).
# "@group3@" and "@group256@" are the bench groups (setup_groups): the bench
# account created them; tests/bench/groups.sql adds synthetic members that
# cannot log in and marks the epoch keyed (the key set itself is end to end
# and not the server's work).
ENDPOINTS=(
	"config /config min_ratio=0.18 max_p99_ms=5 p99_vs_ref=1.2"
	"me /me auth=bearer ref=config min_ratio=0.7"
	"feed /feed?limit=20 items=20 ref=config min_ratio=0.5"
	"feed_auth /feed?limit=20 items=20 auth=bearer ref=config min_ratio=0.5"
	"feed_new /feed?sort=new&limit=20 items=20 ref=config min_ratio=0.5"
	"feed_uncached /feed?limit=20 items=20 server=SOTTO_FEED_SNAPSHOT_SHARE=0 ref=config min_ratio=0.4"
	"feed_auth_uncached /feed?limit=20 items=20 auth=bearer server=SOTTO_FEED_SNAPSHOT_SHARE=0 ref=config min_ratio=0.4"
	"login /auth/login method=POST body=login ref=none connections=$LOGIN_CONNECTIONS duration=5s"
	"pgbench tests/bench/pgbench-insert.sql tool=pgbench ref=none connections=workers"
	"pgbench_post tests/bench/pgbench-post.sql tool=pgbench prepare=post_rows connections=workers ref=pgbench min_ratio=0.35"
	"post /posts method=POST body=post script=tests/bench/post.lua auth=bearer ref=pgbench_post min_ratio=0.6"
	"events /events?limit=20 items=20 auth=bearer ref=config min_ratio=0.5"
	"dm_send_many /dm/@conversation@/send method=POST body=dm script=tests/bench/post.lua spread=32 auth=bearer ref=post min_ratio=0.5"
	"dm_send /dm/@conversation@/send method=POST body=dm script=tests/bench/post.lua auth=bearer ref=post min_ratio=0.25"
	"group_send /groups/@group3@/send method=POST body=group auth=bearer ref=post min_ratio=0.5"
	"group_send_256 /groups/@group256@/send method=POST body=group auth=bearer ref=post min_ratio=0.25"
	# The IP-ban check on every request: 10 000 active bans cost at most 5%.
	"bans_10k /config bans=10000 versus=0 min_ratio=0.95"
	# A reader with 100 blocks and 10 muted communities, against the same
	# reader with none: the feed, and a post of theirs with 50 replies
	# ("@thread@", setup_blocks), cost at most 10% more.
	"feed_blocks /feed?limit=20 items=20 auth=bearer blocks=100 versus=0 min_ratio=0.9"
	"thread_blocks /posts/@thread@?limit=50 auth=bearer blocks=100 versus=0 min_ratio=0.9"
	# A DPoP-bound token (RFC 9449) with a fresh proof of its key on every
	# request (signature, thumbprint, htu, ath, and the jti recorded in the
	# same Redis round trip as the token check) is held to half of GET /me.
	"me_dpop /me auth=dpop prepare=dpop_proofs script=tests/bench/dpop.lua ref=me min_ratio=0.5"
	# Refresh-token rotation (one conditional UPDATE, the account read, a new
	# token pair), each connection chaining the tokens of its sessions: no target.
	"refresh /auth/refresh method=POST body=refresh prepare=refresh_sessions script=tests/bench/refresh.lua ref=none connections=8"
)

# Not a wrk line: `realtime` (tests/bench/realtime.py) connects
# BENCH_RT_SUBSCRIBERS (1000) idle WebSocket subscribers and reports the
# pool's busy workers (must be 0), nginx's memory per subscriber and p50/p99
# from sending a reply to receiving its event; it runs last, when selected
# (BENCH_ONLY=realtime runs it alone).

# The server settings the measured stack must run with: every rate limit out
# of reach and no proof of work on register, login and posts, so the bench
# measures work, not 429s and 428s; no repetition window, which would
# answer 422 to one account posting that fast (bodies differ anyway); and
# the feed's page cache at its default, written out so the cached feed
# lines say what they measure whatever the default becomes.
BENCH_SETTINGS=(
	SOTTO_FEED_SNAPSHOT_SHARE=10
	SOTTO_RATE_GLOBAL=100000000/1
	SOTTO_RATE_REGISTER=100000000/1
	SOTTO_RATE_LOGIN=100000000/1
	SOTTO_RATE_POST=100000000/1
	SOTTO_POW_REGISTER=0
	SOTTO_POW_LOGIN=0
	SOTTO_POW_POST=0
	SOTTO_POW_REPLY=0
	SOTTO_RATE_DM=100000000/1
	SOTTO_POW_DM=0
	SOTTO_RATE_GROUP=100000000/1
	SOTTO_RATE_REFRESH=100000000/1
	SOTTO_POW_GROUP=0
	SOTTO_GUARD_REPEAT_WINDOW=0
	SOTTO_RATE_COMMUNITY=100000000/1
	SOTTO_POW_COMMUNITY=0
)

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
FEED_POSTS=${BENCH_FEED_POSTS:-2000}
ONLY=${BENCH_ONLY:-}
OUT=$REPO/build/bench
PGBENCH=/usr/lib/postgresql/15/bin/pgbench

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v wrk >/dev/null 2>&1 || die "wrk not found (scripts/packages-test.txt)"
[ -x "$PGBENCH" ] || die "$PGBENCH not found (package postgresql-15, scripts/packages.txt)"

# ---- the stack ------------------------------------------------------------------
DEFAULT_VAR=$(realpath -m -- "${SOTTO_VAR:-$REPO/var}")
DEFAULT_HTTPS=${SOTTO_HTTPS_PORT:-8443}
DEFAULT_HTTP=${SOTTO_HTTP_PORT:-8080}
BIN=$(realpath -m -- "${SOTTO_BIN:-$REPO/sotto}")

VAR=""
HTTPS_PORT=""
HTTP_PORT=""
STARTED=0

# Settings of the line being measured on top of BENCH_SETTINGS (its server=
# options): what the running server was last started with by the bench.
SERVER_EXTRA=()

stack() { # stack.sh with the chosen stack's location and the bench settings
	env SOTTO_VAR="$VAR" SOTTO_HTTPS_PORT="$HTTPS_PORT" SOTTO_HTTP_PORT="$HTTP_PORT" \
		SOTTO_BIN="$BIN" "${BENCH_SETTINGS[@]}" "${SERVER_EXTRA[@]}" \
		bash "$REPO/scripts/stack.sh" "$@"
}

# server_settings NAME=V...: restart the server with these settings on top of
# BENCH_SETTINGS, unless it already runs with exactly them (none: the bench
# settings alone).
server_settings() {
	[ "$*" != "${SERVER_EXTRA[*]}" ] || return 0
	SERVER_EXTRA=("$@")
	say "restarting the server with ${*:-the bench settings alone}"
	stack start sotto >&2 || die "stack.sh start sotto failed"
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

# ---- the bench account ------------------------------------------------------------
# Its token and password never go on a command line: curl reads them from
# files in a private temporary directory, wrk from its environment.
SECRETS=""
TOKEN=""
declare -A BODY

# api [--auth|--peer] METHOD PATH [BODY_FILE] -> the response body, then the
# status on a line of its own. --auth sends the bench account's token, --peer
# the token of its peer in the dm_send conversation.
api() {
	local args=()
	if [ "$1" = --auth ]; then
		args+=(-H "@$SECRETS/auth.header")
		shift
	elif [ "$1" = --peer ]; then
		args+=(-H "@$SECRETS/peer.header")
		shift
	elif [ "$1" = --dpop ]; then   # the bound token, with a proof for this request
		args+=(-H "Authorization: DPoP $DPOP_TOKEN"
			-H "DPoP: $(dpop_proof "$2" "$3" "$DPOP_TOKEN")")
		shift
	elif [ "$1" = --proof ]; then  # a proof alone: what is issued is bound to its key
		args+=(-H "DPoP: $(dpop_proof "$2" "$3")")
		shift
	fi
	local method=$1 path=$2 data=${3-}
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$data")
	curl -ks --max-time "${API_MAX_TIME:-10}" -X "$method" "${args[@]}" -w '\n%{http_code}\n' \
		"https://127.0.0.1:$HTTPS_PORT$path" || printf '\n000\n'
}

json_str() { # key json -> string value
	sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" <<<"$2"
}

# Register a password account (no proof of work on the bench stack) and keep
# what the endpoints need: its token and the body of a valid login.
setup_account() {
	local password reply status id token
	SECRETS=$(mktemp -d "${TMPDIR:-/tmp}/sotto-bench.XXXXXX")
	password=bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	printf '{"password":"%s"}' "$password" >"$SECRETS/register.json"
	reply=$(api POST /auth/register "$SECRETS/register.json")
	status=$(tail -n 1 <<<"$reply")
	case $status in
	201) ;;
	501) die "POST /auth/register answers 501 (not implemented in this build of $BIN): no account to measure /me and /auth/login with" ;;
	*) die "POST /auth/register answers $status, not 201: $(sed '$d' <<<"$reply" | head -c 300)" ;;
	esac
	id=$(json_str account_id "$reply")
	token=$(json_str token "$reply")
	if [ -z "$id" ] || [ -z "$token" ]; then
		die "POST /auth/register: no account_id or token in the answer"
	fi
	printf 'Authorization: Bearer %s\n' "$token" >"$SECRETS/auth.header"
	TOKEN=$token
	BODY[login]=$(printf '{"account_id":"%s","password":"%s"}' "$id" "$password")
	# Checked once by measure(); post.lua sends a different body every time.
	BODY[post]=$(printf '{"body":"bench check post %s"}' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')")
	say "registered a bench account"
}

# dpop_proof method path [token] -> a fresh DPoP proof of the bench key
# (tests/bench/dpop.py) for that request.
dpop_proof() {
	/usr/bin/python3 "$REPO/tests/bench/dpop.py" proof "$SECRETS/dpop.key" "$1" \
		"https://127.0.0.1:$HTTPS_PORT$2" ${3:+"$3"}
}

# The me_dpop line: a key of the bench's, and a session of the bench
# account bound to it (a login with a proof). Sets DPOP_TOKEN.
DPOP_TOKEN=""
setup_dpop() {
	local reply status
	/usr/bin/python3 "$REPO/tests/bench/dpop.py" key "$SECRETS/dpop.key"
	printf '%s' "${BODY[login]}" >"$SECRETS/login.json"
	reply=$(api --proof POST /auth/login "$SECRETS/login.json")
	status=$(tail -n 1 <<<"$reply")
	[ "$status" = 200 ] || die "POST /auth/login with a DPoP proof answers $status, not 200"
	DPOP_TOKEN=$(json_str token "$reply")
	[ "$(json_str token_type "$reply")" = DPoP ] && [ -n "$DPOP_TOKEN" ] ||
		die "POST /auth/login with a DPoP proof: no bound token in the answer"
	say "bound a session of the bench account to a DPoP key"
}

# prepare=dpop_proofs duration threads: one proof per request the run can
# send, at most BENCH_DPOP_RATE (25000) a second of the run, into
# $SECRETS/proofs.txt (tests/bench/dpop.lua reads it). The rate is above
# what GET /config, the cheapest route, reaches on two quiet cores (about
# 20 000/s), so the supply lasts; a run that still uses it up fails
# (used_up) rather than measure it. Made at about 16 000 a second.
dpop_proofs() {
	local secs n
	secs=$(seconds_of "$1")
	n=$((secs * ${BENCH_DPOP_RATE:-25000}))
	/usr/bin/python3 "$REPO/tests/bench/dpop.py" proofs "$SECRETS/dpop.key" GET \
		"https://127.0.0.1:$HTTPS_PORT$SIDE_PATH" "$DPOP_TOKEN" "$n" >"$SECRETS/proofs.txt"
}

# login_refresh_token -> the refresh token of a new session of the bench account
login_refresh_token() {
	local reply
	printf '%s' "${BODY[login]}" >"$SECRETS/login.json"
	reply=$(api POST /auth/login "$SECRETS/login.json")
	[ "$(tail -n 1 <<<"$reply")" = 200 ] || die "POST /auth/login failed (a refresh session)"
	json_str refresh_token "$reply"
}

# prepare=refresh_sessions duration threads: a fresh session per connection,
# and one more a thread, into $SECRETS/refresh.txt (tests/bench/refresh.lua
# chains their tokens): before the run wrk calls request() once on its
# first thread to check the script, and the token that call takes is never
# sent. Without the spare, that thread ran out at its last connection and
# stopped (used_up): the line measured half its connections. The sessions
# of earlier runs end with the bench account.
refresh_sessions() {
	local i
	: >"$SECRETS/refresh.txt"
	for i in $(seq $((REQ_CONNECTIONS + $2))); do
		login_refresh_token >>"$SECRETS/refresh.txt"
	done
}

# bench_post --auth|--peer prefix what -> the id of a new post (a random
# body after prefix) by the bench account or its dm peer; what names the
# purpose in errors.
bench_post() {
	local reply status post_id
	printf '{"body":"%s %s"}' "$2" "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
		>"$SECRETS/post.json"
	reply=$(api "$1" POST /posts "$SECRETS/post.json")
	status=$(tail -n 1 <<<"$reply")
	[ "$status" = 201 ] || die "POST /posts answers $status, not 201 ($3)"
	post_id=$(json_str id "$reply")
	[[ $post_id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "POST /posts: no post id ($3)"
	printf '%s\n' "$post_id"
}

# The dm_send line writes into one conversation between the bench account and
# a second account, its peer, started by the bench account from a post of the
# peer. Sets DM_ID and BODY[dm].
PEER=0
DM_ID=""
register_peer() {
	local reply status
	[ "$PEER" = 0 ] || return 0
	printf '{"password":"bench-peer-%s"}' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
		>"$SECRETS/peer.json"
	reply=$(api POST /auth/register "$SECRETS/peer.json")
	status=$(tail -n 1 <<<"$reply")
	[ "$status" = 201 ] || die "POST /auth/register (peer) answers $status, not 201"
	printf 'Authorization: Bearer %s\n' "$(json_str token "$reply")" >"$SECRETS/peer.header"
	PEER=1
}
setup_dm() {
	local reply status post_id
	register_peer
	post_id=$(bench_post --peer "bench peer post" "dm peer") || exit 1
	printf '{"post_id":"%s"}' "$post_id" >"$SECRETS/dm-start.json"
	reply=$(api --auth POST /dm/start_from_post "$SECRETS/dm-start.json")
	status=$(tail -n 1 <<<"$reply")
	case $status in
	200 | 201) ;;
	*) die "POST /dm/start_from_post answers $status: $(sed '$d' <<<"$reply" | head -c 300)" ;;
	esac
	DM_ID=$(json_str conversation_id "$reply")
	[ -n "$DM_ID" ] || die "POST /dm/start_from_post: no conversation_id in the answer"
	BODY[dm]=$(printf '{"body":"bench check message %s"}' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')")
	say "started a bench conversation"
}

# The dm_send_many line (spread=N) writes round N conversations of the bench
# account, each started from a post of another author of the stack's posts
# (seed_posts: synthetic accounts that never log in), so no two share a
# conversation's row lock or an author's event head. Sets DM_MANY_IDS. They
# are deleted at the end with their messages and the authors' dm.message
# events (drop_dm_many), since those authors stay on the stack.
DM_MANY_IDS=()
setup_dm_many() { # n
	local post_id reply status id
	for post_id in $(stack_psql "SELECT id FROM (SELECT DISTINCT ON (author_pk) id, author_pk
		FROM posts WHERE parent_pk IS NULL AND status = 0 AND author_pk IS NOT NULL
		ORDER BY author_pk, pk DESC) a ORDER BY author_pk DESC LIMIT $(($1 * 2))"); do
		printf '{"post_id":"%s"}' "$post_id" >"$SECRETS/dm-start.json"
		reply=$(api --auth POST /dm/start_from_post "$SECRETS/dm-start.json")
		status=$(tail -n 1 <<<"$reply")
		# 200 (a conversation the bench account has already) and 422 (a
		# post of its own) are left out.
		case $status in
		201) ;;
		200 | 422) continue ;;
		*) die "POST /dm/start_from_post answers $status: $(sed '$d' <<<"$reply" | head -c 300)" ;;
		esac
		id=$(json_str conversation_id "$reply")
		[[ $id =~ ^[A-Za-z0-9_-]+$ ]] || die "POST /dm/start_from_post: no conversation_id in the answer"
		DM_MANY_IDS+=("$id")
		[ "${#DM_MANY_IDS[@]}" -lt "$1" ] || break
	done
	[ "${#DM_MANY_IDS[@]}" = "$1" ] ||
		die "only ${#DM_MANY_IDS[@]} other authors to start conversations with, not $1 (BENCH_FEED_POSTS)"
	[ -n "${BODY[dm]+set}" ] ||
		BODY[dm]=$(printf '{"body":"bench check message %s"}' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')")
	say "started $1 bench conversations with other authors"
}
drop_dm_many() {
	local ids
	[ "${#DM_MANY_IDS[@]}" != 0 ] && [ -n "$DB_URL" ] || return 0
	ids=$(printf "'%s'," "${DM_MANY_IDS[@]}")
	ids=${ids%,}
	stack_psql "DELETE FROM events WHERE type = 'dm.message' AND data->>'conversation_id' IN ($ids);
		DELETE FROM dm_conversations WHERE id IN ($ids)" >/dev/null ||
		say "warning: the dm_send_many conversations stay on the stack at $VAR"
	DM_MANY_IDS=()
}

# The blocks=N lines: THREAD_ID, a post of the bench account with 50 replies
# by its peer (whom it does not block), ten empty communities of its own to
# mute, and BENCH_PK, its internal key, for tests/bench/blocks.sql.
THREAD_ID=""
BENCH_PK=""
setup_blocks() {
	local i status
	register_peer
	THREAD_ID=$(bench_post --auth "bench thread" "blocks thread") || exit 1
	printf '{"body":"bench reply"}' >"$SECRETS/reply.json"
	for i in $(seq 50); do
		printf '{"body":"bench reply %s"}' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
			>"$SECRETS/reply.json"
		status=$(api --peer POST "/posts/$THREAD_ID/reply" "$SECRETS/reply.json" | tail -n 1)
		[ "$status" = 201 ] || die "POST /posts/{id}/reply answers $status, not 201 (blocks thread)"
	done
	for i in $(seq 10); do
		printf '{"slug":"bench-mute-%s","title":"bench"}' \
			"$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" >"$SECRETS/community.json"
		status=$(api --auth POST /communities "$SECRETS/community.json" | tail -n 1)
		[ "$status" = 201 ] || die "POST /communities answers $status, not 201 (blocks mutes)"
	done
	BENCH_PK=$(stack_psql "SELECT author_pk FROM posts WHERE id = '$THREAD_ID'") ||
		die "cannot find the bench account's key"
	say "made the blocks thread (50 replies) and 10 communities to mute"
}
# set_blocks n: the bench account's blocks and mutes (they go with it at the end).
# A mute through the API then drops every worker's cached view of the reader,
# so the first request of a side reads the new state.
set_blocks() {
	local slug
	psql "$DB_URL" -XAtq -v ON_ERROR_STOP=1 -v account="$BENCH_PK" -v n="$1" \
		-f "$REPO/tests/bench/blocks.sql" || die "cannot set $1 blocks on the stack"
	# Each side of each round deletes and inserts the blocks again, which
	# leaves the rows of earlier rounds dead in the table and its indexes
	# until autovacuum comes by, at a moment no round chooses. Measure the
	# table as it settles, its statistics up to date, so that the two
	# sides differ by the blocks alone.
	stack_psql "VACUUM (ANALYZE) blocks, community_mutes" >/dev/null ||
		die "cannot vacuum the blocks"
	slug=$(stack_psql "SELECT slug FROM communities WHERE creator_pk = $BENCH_PK
		AND slug LIKE 'bench-mute-%' ORDER BY slug LIMIT 1")
	[ "$1" = 0 ] || [ "$(api --auth POST "/communities/$slug/mute" | tail -n 1)" = 204 ] ||
		die "POST /communities/{slug}/mute failed"
	[ "$1" != 0 ] || [ "$(api --auth DELETE "/communities/$slug/mute" | tail -n 1)" = 204 ] ||
		die "DELETE /communities/{slug}/mute failed"
}

# The group_send lines: two groups of the bench account, with 2 and 255
# synthetic members (tests/bench/groups.sql). Sets GROUP3_ID, GROUP256_ID
# and BODY[group] (a 64-byte ciphertext for epoch 1).
GROUP3_ID=""
GROUP256_ID=""
b64url_random() { # bytes -> base64url text without padding
	head -c "$1" /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='
}
setup_group() { # members -> the id of a new bench group with that many members
	local reply status id
	printf '{"x25519_public":"%s"}' "$(b64url_random 32)" >"$SECRETS/group.json"
	reply=$(api --auth POST /groups "$SECRETS/group.json")
	status=$(tail -n 1 <<<"$reply")
	[ "$status" = 201 ] || die "POST /groups answers $status: $(sed '$d' <<<"$reply" | head -c 300)"
	id=$(json_str group_id "$reply")
	[ -n "$id" ] || die "POST /groups: no group_id in the answer"
	psql "$DB_URL" -XAtq -v ON_ERROR_STOP=1 -v group="$id" -v n="$(($1 - 1))" \
		-f "$REPO/tests/bench/groups.sql" >/dev/null || die "tests/bench/groups.sql failed"
	printf '%s\n' "$id"
}
setup_groups() {
	GROUP3_ID=$(setup_group 3) || exit 1
	GROUP256_ID=$(setup_group 256) || exit 1
	BODY[group]=$(printf '{"epoch":1,"ciphertext":"%s","nonce":"%s"}' \
		"$(b64url_random 64)" "$(b64url_random 24)")
	say "made the bench groups (3 and 256 members)"
}
drop_groups() {
	[ -n "$GROUP3_ID$GROUP256_ID" ] || return 0
	stack_psql "DELETE FROM groups WHERE id IN ('$GROUP3_ID', '$GROUP256_ID');
		DELETE FROM accounts WHERE id_sealed = convert_to('bench-group', 'UTF8')" >/dev/null ||
		say "warning: the bench groups stay on the stack at $VAR"
	GROUP3_ID="" GROUP256_ID=""
}

# DELETE /me (--auth or --peer, the body with the password) -> the last
# status. The bench account has thousands of posts: they go in batches, for
# up to 15 s a request, then 503 and the next request goes on
# (docs/accounts.md), so each request may take that long, and a 503 is
# asked again a few times.
delete_me() {
	local status i
	for i in 1 2 3 4 5 6; do
		status=$(API_MAX_TIME=60 api "$1" DELETE /me "$2" | tail -n 1)
		[ "$status" = 503 ] || break
	done
	printf '%s\n' "$status"
}

# Delete the bench account (and the dm peer), so runs leave nothing behind on a
# kept stack. DELETE /me asks for the password again: the register bodies hold it.
delete_account() {
	local status
	if [ "$PEER" = 1 ]; then
		status=$(delete_me --peer "$SECRETS/peer.json")
		[ "$status" = 204 ] || say "warning: DELETE /me (dm peer) answers $status; it stays on the stack at $VAR"
		PEER=0
	fi
	if [ -n "$TOKEN" ]; then
		status=$(delete_me --auth "$SECRETS/register.json")
		[ "$status" = 204 ] || say "warning: DELETE /me answers $status; the bench account stays on the stack at $VAR"
		TOKEN=""
	fi
	if [ -n "$SECRETS" ]; then
		rm -rf -- "$SECRETS"
		SECRETS=""
	fi
}

cleanup() {
	drop_dm_many
	drop_groups
	drop_post_rows
	delete_account
	drop_scratch
	drop_bans
	if [ "$STARTED" = 1 ]; then
		STARTED=0
		say "stopping the stack at $VAR"
		stack down >&2 || true
	elif [ "${#SERVER_EXTRA[@]}" != 0 ]; then
		server_settings || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the stack's database -------------------------------------------------------
# The server's own settings file names its database (set by choose_stack's
# caller); bench-data gets the server's environment (the caller's, the bench
# settings, that file), so it seals with the keys the server opens with.
DB_URL=""
find_db_url() {
	DB_URL=$(sed -n 's/^DATABASE_URL=//p' "$VAR/sotto.env" 2>/dev/null | tail -n 1)
	[ -n "$DB_URL" ] || die "no DATABASE_URL in $VAR/sotto.env"
}

stack_psql() { # SQL -> unaligned output
	psql "$DB_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"
}

bench_data() { # n_posts: add posts (and accounts) with sotto bench-data
	env "${BENCH_SETTINGS[@]}" SOTTO_ENV_FILE="$VAR/sotto.env" DATABASE_URL="$DB_URL" \
		"$BIN" bench-data "$1" 2>&1 | grep --line-buffered -v '^{' >&2
	[ "${PIPESTATUS[0]}" = 0 ]
}

# Top the stack up to FEED_POSTS visible top-level posts, so a feed page is
# full and the feed is measured opening 20 posts.
seed_posts() {
	local have
	have=$(stack_psql "SELECT count(*) FROM posts WHERE parent_pk IS NULL AND status = 0") ||
		die "cannot count the posts in the stack's database"
	if [ "$have" -ge "$FEED_POSTS" ]; then
		say "the stack holds $have posts (at least $FEED_POSTS)"
		return
	fi
	say "adding $((FEED_POSTS - have)) posts to the stack's $have (sotto bench-data)"
	bench_data $((FEED_POSTS - have)) || die "sotto bench-data failed"
}

# GET /events lists the bench account's queue: give it 20 events (one post of
# its own, 20 post.reply events pushed by SQL as a reply would push them).
seed_events() {
	local post_id
	post_id=$(bench_post --auth "bench events post" "seeding events") || exit 1
	stack_psql "SELECT count(sotto_event_push(p.author_pk, 'post.reply', p.day,
		jsonb_build_object('post_id', p.id, 'reply_id', 'bench' || lpad(g::text, 17, '0'))))
		FROM posts p, generate_series(1, 20) g WHERE p.id = '$post_id'" >/dev/null ||
		die "cannot seed the bench account's events"
	say "seeded 20 events for the bench account"
}

# realtime: tests/bench/realtime.py against the chosen stack; its JSON line
# joins results.jsonl. Records PASS/FAIL in main's checks and failed.
measure_realtime() {
	local out
	say "realtime: ${BENCH_RT_SUBSCRIBERS:-1000} idle WebSocket subscribers (tests/bench/realtime.py)"
	if out=$(BENCH_HTTPS_PORT=$HTTPS_PORT BENCH_VAR=$VAR /usr/bin/python3 "$REPO/tests/bench/realtime.py"); then
		checks+=("PASS realtime: 0 busy workers with idle subscribers, every event received, p99 under ${BENCH_RT_MAX_P99_MS:-250} ms")
	else
		checks+=("FAIL realtime: busy workers, lost events or p99 over ${BENCH_RT_MAX_P99_MS:-250} ms (see above)")
		failed=1
	fi
	[ -z "$out" ] || printf '%s\n' "$out" | tee -a "$OUT/results.jsonl"
}

# prepare=post_rows duration threads: bench_post_rows afresh with enough posts
# of a new author for a pgbench_post run of that duration (`sotto bench-data
# --post-rows`), and the variables tests/bench/pgbench-post.sql reads, in
# PGBENCH_VARS. The authors are listed in $SECRETS/post-authors (this runs
# in a subshell) for drop_post_rows.
PGBENCH_VARS=()
post_rows() {
	local n out author
	n=$(($(seconds_of "$1") * ${BENCH_POST_ROWS_RATE:-10000}))
	out=$(env "${BENCH_SETTINGS[@]}" SOTTO_ENV_FILE="$VAR/sotto.env" DATABASE_URL="$DB_URL" \
		"$BIN" bench-data --post-rows "$n" 2>&1) || {
		grep -v '^{' <<<"$out" >&2
		die "sotto bench-data --post-rows failed"
	}
	author=$(sed -n 's/^bench-data: post rows of account \([0-9][0-9]*\)$/\1/p' <<<"$out")
	[ -n "$author" ] || die "sotto bench-data --post-rows: no author in its output"
	printf '%s\n' "$author" >>"$SECRETS/post-authors"
	PGBENCH_VARS=(-D "author=$author" -D "day=$(($(date +%s) / 86400))"
		-D "clients=$REQ_CONNECTIONS" -D base=0 -D k=0)
}
# The authors of the pgbench_post rows, their posts and the rows' table.
drop_post_rows() {
	local pks
	[ -n "$SECRETS" ] && [ -s "$SECRETS/post-authors" ] && [ -n "$DB_URL" ] || return 0
	pks=$(paste -sd, "$SECRETS/post-authors")
	rm -f -- "$SECRETS/post-authors"
	stack_psql "DELETE FROM accounts WHERE pk IN ($pks); DROP TABLE IF EXISTS bench_post_rows" \
		>/dev/null || say "warning: the pgbench_post authors ($pks) stay on the stack at $VAR"
}

# The pgbench reference writes here; dropped again at the end.
SCRATCH=bench_pgbench_scratch
SCRATCH_MADE=0
make_scratch() {
	stack_psql "SET client_min_messages = warning; DROP TABLE IF EXISTS $SCRATCH; CREATE TABLE $SCRATCH (
		id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL)" ||
		die "cannot create the scratch table $SCRATCH"
	SCRATCH_MADE=1
}
drop_scratch() {
	[ "$SCRATCH_MADE" = 1 ] && [ -n "$DB_URL" ] || return 0
	SCRATCH_MADE=0
	stack_psql "DROP TABLE IF EXISTS $SCRATCH" ||
		say "warning: could not drop $SCRATCH on the stack at $VAR"
}

# The bans=N option: the bench's own bans (tests/bench/bans.sql), then wait
# until every worker of the pool reports on /metrics (sotto_ipban_loaded)
# that its list holds them and nothing else: each worker polls the
# database's ban generation at most every 2 s, at its next request, so the
# wait keeps every worker busy with GET /config meanwhile. A pool that does
# not get there within BENCH_BANS_WAIT_S (30) seconds fails the line
# (SETUP_FAILED): its figures would compare no bans with no bans.
BANS_MADE=0
SETUP_FAILED=""
set_bans() { # n
	psql "$DB_URL" -XAtq -v ON_ERROR_STOP=1 -v n="$1" -f "$REPO/tests/bench/bans.sql" ||
		die "cannot set $1 bans on the stack"
	[ "$1" = 0 ] || BANS_MADE=1
	wait_bans "$1"
}

# The active bans in the database (the bench's and any others), as a
# worker counts them: distinct tokens of the current key version that
# apply today.
active_bans() {
	stack_psql "SELECT count(DISTINCT token) FROM ip_bans WHERE key_version = 1
		AND (expires_day IS NULL OR expires_day > floor(extract(epoch FROM now()) / 86400))"
}

# The sotto_ipban_loaded values of /metrics, one a line ("-1" before a
# worker's first load), then sotto_workers_alive alone on the last line.
loaded_bans() {
	curl -ks --max-time 10 "https://127.0.0.1:$HTTPS_PORT/metrics" | awk '
		/^sotto_ipban_loaded\{/ { print $2 }
		/^sotto_workers_alive / { alive = $2 }
		END { print alive + 0 }'
}

wait_bans() { # n
	local want deadline loaded alive i urls=()
	# A line whose pool did not get there once is failed already.
	[ -z "$SETUP_FAILED" ] || return 0
	want=$(active_bans) || die "cannot count the active bans on the stack"
	[ "$want" -ge "$1" ] || die "$1 bans set, but only $want active on the stack"
	# Four requests a worker, one after the other: a free worker takes the
	# next, so each gets some.
	alive=$(loaded_bans | tail -n 1)
	for i in $(seq $((4 * (alive > 0 ? alive : 8)))); do
		urls+=("https://127.0.0.1:$HTTPS_PORT/config")
	done
	deadline=$((SECONDS + ${BENCH_BANS_WAIT_S:-30}))
	while :; do
		curl -ks --max-time 10 "${urls[@]}" >/dev/null 2>&1 || true
		loaded=$(loaded_bans)
		alive=$(tail -n 1 <<<"$loaded")
		loaded=$(sed '$d' <<<"$loaded")
		if [ "$alive" -gt 0 ] && [ "$(grep -c . <<<"$loaded")" = "$alive" ] &&
			! grep -qvxF -- "$want" <<<"$loaded"; then
			return 0
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			SETUP_FAILED="after ${BENCH_BANS_WAIT_S:-30} s the $alive workers hold $(tr '\n' ' ' <<<"$loaded")bans, not $want each"
			say "warning: $SETUP_FAILED"
			return 0
		fi
		sleep 0.2
	done
}
drop_bans() {
	[ "$BANS_MADE" = 1 ] && [ -n "$DB_URL" ] || return 0
	BANS_MADE=0
	psql "$DB_URL" -XAtq -v ON_ERROR_STOP=1 -v n=0 -f "$REPO/tests/bench/bans.sql" ||
		say "warning: could not remove the bench's bans on the stack at $VAR"
}

# measure_rounds duration label setup [label setup]: one side alone for the
# whole duration, or two sides in BENCH_ROUNDS (default 4) rounds in ABBA
# order, so that a noisy neighbour or a drifting clock slows both sides
# alike. `setup` (a command: use_line NAME, set_bans N, set_blocks N) prepares a side before
# each of its runs. Each RESULT[label] sums its rounds (rps = requests /
# seconds, every error count summed; p50 the mean of the rounds', p99 and
# max the worst round's, so one bad round shows), and cpu_us, the CPU time
# the pool's workers spent during its measured runs (user + system, from
# /proc) per request: a figure that a neighbour's load moves far less than
# req/s (none for a pgbench side, where the workers are idle).
ROUNDS=${BENCH_ROUNDS:-4}
measure_rounds() {
	local duration=$1 secs rounds=1 round i label t0
	local -a labels=("$2") setups=("$3") order=(0)
	declare -A lines=() ticks=() tools=()
	secs=$(seconds_of "$duration")
	if [ $# -ge 5 ]; then
		labels+=("$4") setups+=("$5")
		rounds=$ROUNDS
		secs=$(((secs + rounds - 1) / rounds))
	fi
	for i in "${!labels[@]}"; do
		eval "${setups[$i]}"
		check_side "${labels[$i]}"
		run_side "${labels[$i]}" "$WARMUP" >/dev/null
		ticks[${labels[$i]}]=0 tools[${labels[$i]}]=$SIDE_TOOL
	done
	for round in $(seq "$rounds"); do
		order=(0)
		[ "${#labels[@]}" = 1 ] || order=(1 0)
		[ $((round % 2)) = 1 ] || [ "${#labels[@]}" = 1 ] || order=(0 1)
		for i in "${order[@]}"; do
			label=${labels[$i]}
			eval "${setups[$i]}"
			t0=$(worker_ticks)
			lines[$label]+=$(run_side "$label" "${secs}s")$'\n'
			ticks[$label]=$((ticks[$label] + $(worker_ticks) - t0))
		done
	done
	for label in "${labels[@]}"; do
		[ "${tools[$label]}" = wrk ] || ticks[$label]=""
		RESULT[$label]=$(printf '%s' "${lines[$label]}" | combine_rounds "$label" "${ticks[$label]}") ||
			die "$label: cannot combine the rounds"
		printf '%s\n' "${RESULT[$label]}" >>"$OUT/results.jsonl"
	done
}

# The error counts of a JSON line (report.lua's, pgbench_line's), each of
# which fails the line it belongs to. used_up counts wrk threads that ran
# out of proofs or refresh tokens before the run's end: their rate is the
# supply's, not the server's.
ERROR_KINDS="non_2xx_3xx connect_errors read_errors write_errors timeouts failed used_up"

combine_rounds() { # label worker_ticks < JSON lines of its rounds -> one JSON line
	/usr/bin/python3 -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin if l.strip()]
if not rs:
    sys.exit(1)
req = sum(r["requests"] for r in rs); sec = sum(r["seconds"] for r in rs)
out = {"name": sys.argv[1], "requests": req, "seconds": round(sec, 3), "rounds": len(rs),
       "rps": round(req / sec, 1) if sec else 0,
       "p50_ms": round(sum(r["p50_ms"] for r in rs) / len(rs), 3),
       "p99_ms": max(r["p99_ms"] for r in rs),
       "max_ms": max(r.get("max_ms", r["p99_ms"]) for r in rs)}
if sys.argv[2] != "" and req > 0:
    out["cpu_us"] = round(int(sys.argv[2]) * 1e6 / int(sys.argv[3]) / req, 1)
for kind in sys.argv[4].split():
    out[kind] = sum(r.get(kind, 0) for r in rs)
print(json.dumps(out, separators=(",", ":")))
' "$1" "$2" "$(getconf CLK_TCK)" "$ERROR_KINDS"
}

# errors_of result_json -> "3 read_errors, 1 timeouts" (nothing when none)
errors_of() {
	local kind n out=""
	for kind in $ERROR_KINDS; do
		n=$(json_num "$kind" "$1")
		[ "${n:-0}" = 0 ] || out+="${out:+, }$n $kind"
	done
	printf '%s' "$out"
}

# User + system clock ticks of the server's workers (children of its master).
worker_ticks() {
	local master t=0 pid
	master=$(cat "$VAR/run/sotto.pid" 2>/dev/null) || { echo 0; return; }
	for pid in $(pgrep -P "$master"); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# ---- measuring ------------------------------------------------------------------
json_num() { # key json -> number
	sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" <<<"$2"
}

# How the line being measured is sent (set by main from its options).
REQ_METHOD=GET
REQ_BODY=""
REQ_AUTH=""
REQ_SCRIPT=""
REQ_CONNECTIONS=$CONNECTIONS
REQ_ITEMS=""
REQ_PREPARE=""
REQ_PATHS=""     # spread=N: the paths the requests go round (post.lua)

# run_wrk name path duration -> the JSON line of report.lua
run_wrk() {
	local name=$1 path=$2 duration=$3 raw threads=$THREADS
	[ "$threads" -le "$REQ_CONNECTIONS" ] || threads=$REQ_CONNECTIONS
	[ -z "$REQ_PREPARE" ] || "$REQ_PREPARE" "$duration" "$threads"
	raw=$(BENCH_NAME=$name BENCH_SCRIPT=$REQ_SCRIPT BENCH_METHOD=$REQ_METHOD \
		BENCH_BODY=${REQ_BODY:+${BODY[$REQ_BODY]}} \
		BENCH_TOKEN=$([ "$REQ_AUTH" != bearer ] || printf '%s' "$TOKEN") BENCH_PATHS=$REQ_PATHS \
		BENCH_WRK_THREADS=$threads BENCH_DPOP_TOKEN=$DPOP_TOKEN \
		BENCH_PROOFS=${SECRETS:-}/proofs.txt BENCH_REFRESH=${SECRETS:-}/refresh.txt \
		wrk -t"$threads" -c"$REQ_CONNECTIONS" -d"$duration" --latency \
		-s "$REPO/tests/bench/report.lua" "https://127.0.0.1:$HTTPS_PORT$path" 2>&1) || {
		printf '%s\n' "$raw" >&2
		die "wrk failed on $path"
	}
	printf '%s\n' "$raw" >"$OUT/$name.wrk.txt"
	grep '^{"name":' <<<"$raw" | tail -n 1
}

declare -A RESULT

# find_line name -> its line (the reference's included)
find_line() {
	local line name
	for line in "$REFERENCE" "${ENDPOINTS[@]}"; do
		read -r name _ <<<"$line"
		[ "$name" != "$1" ] || { printf '%s\n' "$line"; return 0; }
	done
	return 1
}

# use_line name: what the line sends and with what: SIDE_PATH, SIDE_TOOL
# and the REQ_* settings.
SIDE_PATH=""
SIDE_TOOL=wrk
use_line() {
	local line name path targets t id
	line=$(find_line "$1") || die "no line named $1"
	read -r name path targets <<<"$line"
	SIDE_PATH=${path//@conversation@/$DM_ID}
	SIDE_PATH=${SIDE_PATH//@group3@/$GROUP3_ID}
	SIDE_PATH=${SIDE_PATH//@group256@/$GROUP256_ID}
	SIDE_PATH=${SIDE_PATH//@thread@/$THREAD_ID}
	SIDE_TOOL=wrk
	REQ_METHOD=GET REQ_BODY="" REQ_AUTH="" REQ_SCRIPT="" REQ_CONNECTIONS=$CONNECTIONS REQ_ITEMS=""
	REQ_PREPARE="" REQ_PATHS="" PGBENCH_VARS=()
	for t in $targets; do
		case $t in
		spread=*)
			[ "${#DM_MANY_IDS[@]}" = "${t#spread=}" ] || die "$1: no ${t#spread=} conversations"
			SIDE_PATH=${path//@conversation@/${DM_MANY_IDS[0]}}
			for id in "${DM_MANY_IDS[@]}"; do
				REQ_PATHS+="${REQ_PATHS:+ }${path//@conversation@/$id}"
			done
			;;
		script=*) REQ_SCRIPT=$REPO/${t#script=} ;;
		method=*) REQ_METHOD=${t#method=} ;;
		body=*) REQ_BODY=${t#body=} ;;
		auth=bearer) REQ_AUTH=bearer ;;
		auth=dpop) REQ_AUTH=dpop ;;
		prepare=*) REQ_PREPARE=${t#prepare=} ;;
		connections=workers) REQ_CONNECTIONS=$(pool_workers) || exit 1 ;;
		connections=*) REQ_CONNECTIONS=${t#connections=} ;;
		items=*) REQ_ITEMS=${t#items=} ;;
		tool=pgbench) SIDE_TOOL=pgbench ;;
		esac
	done
}

# The server's workers (sotto_workers_alive on /metrics).
pool_workers() {
	local n
	n=$(curl -ks --max-time 10 "https://127.0.0.1:$HTTPS_PORT/metrics" |
		awk '/^sotto_workers_alive / { print $2 }')
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "cannot count the server's workers (/metrics)"
	printf '%s\n' "$n"
}

# run_side label duration -> one JSON line: the side set up by use_line.
run_side() {
	if [ "$SIDE_TOOL" = pgbench ]; then
		[ -z "$REQ_PREPARE" ] || "$REQ_PREPARE" "$2" "$THREADS"
		pgbench_line "$1" "$REPO/$SIDE_PATH" "$2"
	else
		run_wrk "$1" "$SIDE_PATH" "$2"
	fi
}

# check_side label: before a side is measured, its request answers as it
# should (status, and a full list where the line asks for items), so the
# figures are of work done, not of errors; pgbench gets its scratch table.
check_side() {
	local name=$1 path=$SIDE_PATH expect=200 data="" auth=() reply status
	if [ "$SIDE_TOOL" = pgbench ]; then
		[ -f "$REPO/$path" ] || die "$name: no pgbench script $REPO/$path"
		[ "$SCRATCH_MADE" = 1 ] || make_scratch
		return
	fi
	[ "$REQ_METHOD" = POST ] && expect="200 201"
	if [ -n "$REQ_BODY" ]; then
		[ -n "${BODY[$REQ_BODY]+set}" ] || die "$name: no body named '$REQ_BODY'"
		data=$SECRETS/$REQ_BODY.json
		printf '%s' "${BODY[$REQ_BODY]}" >"$data"
	fi
	case $REQ_AUTH in
	bearer) auth=(--auth) ;;
	dpop) auth=(--dpop) ;;
	esac
	reply=$(api "${auth[@]}" "$REQ_METHOD" "$path" "$data")
	status=$(tail -n 1 <<<"$reply")
	if [ "$status" = 404 ] || [ "$status" = 501 ]; then
		die "$REQ_METHOD $path answers $status: this build of $BIN does not serve it yet" \
			"(BENCH_ONLY='config me login pgbench' measures the rest)"
	fi
	grep -qw -- "$status" <<<"$expect" ||
		die "$REQ_METHOD $path answers $status, not ${expect// / or }: $(sed '$d' <<<"$reply" | head -c 300)"
	if [ -n "$REQ_ITEMS" ]; then
		local items
		items=$(sed '$d' <<<"$reply" | /usr/bin/python3 -c \
			'import json, sys; print(len(json.load(sys.stdin)["items"]))' 2>/dev/null) ||
			die "$REQ_METHOD $path: no items list in the answer"
		[ "$items" -ge "$REQ_ITEMS" ] ||
			die "$REQ_METHOD $path lists $items items, fewer than $REQ_ITEMS"
	fi
}

seconds_of() { # wrk duration (10, 10s, 2m, 1h) -> whole seconds
	case $1 in
	*h) echo $((${1%h} * 3600)) ;;
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}

# run_pgbench name script duration log_prefix -> pgbench's output; the
# per-transaction latencies go to log_prefix.* (microseconds, 3rd field).
run_pgbench() {
	local secs threads=$THREADS
	secs=$(seconds_of "$3")
	[[ $secs =~ ^[1-9][0-9]*$ ]] || die "$1: pgbench needs whole seconds, not '$3'"
	[ "$threads" -le "$REQ_CONNECTIONS" ] || threads=$REQ_CONNECTIONS
	rm -f -- "$4".*
	"$PGBENCH" -n -M prepared -c "$REQ_CONNECTIONS" -j "$threads" -T "$secs" \
		"${PGBENCH_VARS[@]}" -f "$2" -l --log-prefix="$4" "$DB_URL" 2>&1 || {
		say "pgbench failed"
		return 1
	}
}

# pgbench_line name script duration -> one JSON line, pgbench's
# transactions per second as its rps.
pgbench_line() {
	local name=$1 script=$2 duration=$3 raw tps n p50 p99 secs failed
	raw=$(run_pgbench "$name" "$script" "$duration" "$OUT/$name.log") || {
		printf '%s\n' "$raw" >&2
		die "pgbench failed"
	}
	printf '%s\n' "$raw" >"$OUT/$name.pgbench.txt"
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$raw" | tail -n 1)
	[ -n "$tps" ] || die "no tps in pgbench's output (see $OUT/$name.pgbench.txt)"
	tps=$(awk -v t="$tps" 'BEGIN { printf "%.1f", t }')
	secs=$(seconds_of "$duration")
	read -r n p50 p99 < <(cat "$OUT/$name.log".* | awk '{ print $3 }' | sort -n | awk '
		function at(q,  i) { i = int(NR * q); return v[i < 1 ? 1 : i] / 1000 }
		{ v[NR] = $1 }
		END { if (NR == 0) print 0, 0, 0; else printf "%d %.3f %.3f\n", NR, at(0.50), at(0.99) }')
	rm -f -- "$OUT/$name.log".*
	# Transactions that ended in an error (PostgreSQL 15 counts them).
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$raw" | tail -n 1)
	printf '{"name":"%s","requests":%d,"seconds":%s,"rps":%s,"p50_ms":%s,"p99_ms":%s,"max_ms":%s,"failed":%d}\n' \
		"$name" "$n" "$secs" "$tps" "$p50" "$p99" "$p99" "${failed:-0}"
}

# True when the line named $1 runs: every line without BENCH_ONLY, else the
# lines it names and the lines those take their ratio from, transitively
# (dm_send brings post, which brings pgbench_post, which brings pgbench).
selected() {
	[ -z "$ONLY" ] && return 0
	local line name path targets t
	[[ " $ONLY " == *" $1 "* ]] && return 0
	for line in "${ENDPOINTS[@]}"; do
		read -r name path targets <<<"$line"
		for t in $targets; do
			[ "$t" = "ref=$1" ] && selected "$name" && return 0
		done
	done
	return 1
}

row() { # name connections rps p50 p99 worker_cpu ratio vs
	printf '%-14s %6s %11s %9s %9s %8s %7s  %s\n' "$@"
}

# result_row label connections ratio vs: the row of RESULT[label], with the
# CPU the pool's workers spent per request (a figure that steal time from
# neighbours does not move, for comparing before and after a change).
result_row() {
	local r=${RESULT[$1]} cpu
	cpu=$(json_num cpu_us "$r")
	row "$1" "$2" "$(json_num rps "$r")" "$(json_num p50_ms "$r")" \
		"$(json_num p99_ms "$r")" "${cpu:--}" "$3" "$4"
}

# The worker CPU per request of every measured route as a multiple of
# GET /config's, pooled over every run of config in this bench (its own line
# and each config@NAME ref): a regression shows here even when a noisy
# machine moves every req/s.
cpu_summary() {
	local label r n cpu_total=0 req_total=0 config_us x out="" json="" line name
	for label in "${!RESULT[@]}"; do
		[ "$label" = config ] || [[ $label == config@* ]] || continue
		r=${RESULT[$label]}
		n=$(json_num requests "$r")
		[ -n "$(json_num cpu_us "$r")" ] || continue
		cpu_total=$(awk -v a="$cpu_total" -v c="$(json_num cpu_us "$r")" -v n="$n" \
			'BEGIN { printf "%.1f", a + c * n }')
		req_total=$((req_total + n))
	done
	[ "$req_total" -gt 0 ] || return 0
	config_us=$(awk -v t="$cpu_total" -v n="$req_total" 'BEGIN { printf "%.1f", t / n }')
	for line in "${ENDPOINTS[@]}"; do
		read -r name _ <<<"$line"
		r=${RESULT[$name]:-}
		[ -n "$r" ] && [ -n "$(json_num cpu_us "$r")" ] || continue
		x=$(awk -v c="$(json_num cpu_us "$r")" -v k="$config_us" \
			'BEGIN { printf "%.2f", (k > 0 ? c / k : 0) }')
		out+=" $name $x" json+=",\"$name\":$x"
	done
	printf '\nworker CPU per request x config (%s us):%s\n' "$config_us" "$out"
	printf '{"name":"cpu_x_config","config_us":%s%s}\n' "$config_us" "$json" >>"$OUT/results.jsonl"
}

# target name what value op limit unit: record PASS/FAIL of `value op limit`
# (op ">=", "<" or "<=") in main's checks and failed (bash dynamic scope).
target() {
	local name=$1 what=$2 value=$3 op=$4 limit=$5 unit=$6 inverse
	case $op in ">=") inverse="<" ;; "<") inverse=">=" ;; "<=") inverse=">" ;; esac
	if awk -v v="$value" -v m="$limit" -v op="$op" \
		'BEGIN { exit !(op == ">=" ? v >= m : op == "<" ? v < m : v <= m) }'; then
		checks+=("PASS $name: $what $op $limit$unit")
	else
		checks+=("FAIL $name: $what $inverse $limit$unit")
		failed=1
	fi
}

# p99_target name p99 max_ms pair targets: max_p99_ms=M of a line, and with
# p99_vs_ref=F, F x the p99 of its pair (measured in the same rounds) when
# that is M or more; the check names the form that applied.
p99_target() {
	local name=$1 p99=$2 max=$3 pair=$4 t factor="" ref_p99 what
	for t in $5; do
		[ "${t%%=*}" != p99_vs_ref ] || factor=${t#p99_vs_ref=}
	done
	if [ -z "$factor" ]; then
		target "$name" "p99 $p99 ms" "$p99" "<" "$max" " ms"
		return
	fi
	[ -n "$pair" ] || die "$name: p99_vs_ref needs a ref"
	ref_p99=$(json_num p99_ms "${RESULT[$pair]}")
	if awk -v r="$ref_p99" -v m="$max" 'BEGIN { exit !(r >= m) }'; then
		what="p99 $p99 ms (held to $factor x $pair's p99 of $ref_p99 ms in the same rounds,"
		what+=" since that is not under $max ms)"
		target "$name" "$what" "$p99" "<=" \
			"$(awk -v r="$ref_p99" -v f="$factor" 'BEGIN { printf "%.3f", r * f }')" " ms"
		return
	fi
	what="p99 $p99 ms (held to $max ms, since $pair's p99 in the same rounds is $ref_p99 ms)"
	target "$name" "$what" "$p99" "<" "$max" " ms"
}

main() {
	local line name path targets t duration ref ref_name ref_rps rps p99 ratio versus pair
	local state n extra
	local failed=0 checks=()
	mkdir -p "$OUT"
	: >"$OUT/results.jsonl"
	choose_stack
	find_db_url
	setup_account
	! selected dm_send || setup_dm
	! selected me_dpop || setup_dpop
	! selected refresh || BODY[refresh]=$(printf '{"refresh_token":"%s"}' "$(login_refresh_token)")
	! selected group_send && ! selected group_send_256 || setup_groups
	! selected feed_blocks && ! selected thread_blocks || setup_blocks
	# The feed lines and the authors of dm_send_many need the stack's posts.
	for line in "${ENDPOINTS[@]}"; do
		read -r name path targets <<<"$line"
		if selected "$name" && { [[ " $targets " == *" spread="* ]] ||
			{ [[ " $targets " == *" items="* ]] && [ "$name" != events ]; }; }; then
			seed_posts
			break
		fi
	done
	for line in "${ENDPOINTS[@]}"; do
		read -r name path targets <<<"$line"
		for t in $targets; do
			[ "${t%%=*}" != spread ] || ! selected "$name" || setup_dm_many "${t#spread=}"
		done
	done
	! selected events || seed_events
	# A settled database: the bench deletes what its earlier runs wrote
	# (tens of thousands of posts and their authors), and autovacuum would
	# otherwise clean that up during whichever lines come first.
	stack_psql "VACUUM (ANALYZE)" >/dev/null || die "cannot vacuum the stack's database"
	say "vacuumed and analyzed the stack's database"

	say "wrk: $THREADS threads, $CONNECTIONS connections, ${WARMUP} warm-up + ${DURATION} per endpoint" \
		"unless its line says otherwise, $(nproc) CPUs, stack at https://127.0.0.1:$HTTPS_PORT"
	read -r ref_name path <<<"$REFERENCE"
	measure_rounds "$DURATION" "$ref_name" "use_line $ref_name"

	printf '\n'
	row endpoint conns req/s "p50 ms" "p99 ms" "cpu us" ratio "vs"
	result_row "$ref_name" "$CONNECTIONS" 1.000 "(the reference: nginx alone)"

	for line in "${ENDPOINTS[@]}"; do
		read -r name path targets <<<"$line"
		selected "$name" || continue
		duration=$DURATION ref=$ref_name state="" n="" versus="" extra=()
		SETUP_FAILED=""
		for t in $targets; do
			case $t in
			script=* | method=* | body=* | auth=bearer | auth=dpop | prepare=* | connections=* | items=* | tool=pgbench | spread=*) ;;
			server=*=*) extra+=("${t#server=}") ;;
			duration=*) duration=${t#duration=} ;;
			ref=*) ref=${t#ref=} ;;
			bans=*) state=set_bans n=${t#bans=} ;;
			blocks=*) state=set_blocks n=${t#blocks=} ;;
			versus=*) versus=${t#versus=} ;;
			min_ratio=* | max_p99_ms=* | p99_vs_ref=*) ;;
			*) die "unknown option '$t' for $name" ;;
			esac
		done
		server_settings "${extra[@]}"
		# The ratio is taken against `pair`, measured in rounds alongside the
		# line: the same request with other bans or blocks (versus=), or the ref line.
		pair=""
		[ -z "$state" ] || [ -n "$versus" ] || "$state" "$n"
		if [ -n "$versus" ]; then
			[ -n "$state" ] || die "$name: versus= needs bans= or blocks="
			pair=${name}_vs
			use_line "$name"
			measure_rounds "$duration" "$name" "$state $n" "$pair" "$state $versus"
		elif [ "$ref" = none ]; then
			measure_rounds "$duration" "$name" "use_line $name"
		else
			find_line "$ref" >/dev/null || die "$name: ref=$ref names no line"
			pair=$ref@$name
			measure_rounds "$duration" "$name" "use_line $name" "$pair" "use_line $ref"
		fi
		use_line "$name"
		[ -z "$pair" ] || result_row "$pair" "" - -
		rps=$(json_num rps "${RESULT[$name]}")
		p99=$(json_num p99_ms "${RESULT[$name]}")
		if [ -z "$pair" ]; then
			ratio=-
		else
			ref_rps=$(json_num rps "${RESULT[$pair]}")
			ratio=$(awk -v a="$rps" -v b="$ref_rps" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
		fi
		result_row "$name" "$REQ_CONNECTIONS" "$ratio" "${pair:--}"

		local errors label
		for label in "$name" $pair; do
			errors=$(errors_of "${RESULT[$label]}")
			if [ -n "$errors" ]; then
				checks+=("FAIL $label: $errors (see $OUT/$label.*.txt)")
				failed=1
			fi
		done
		if [ -n "$SETUP_FAILED" ]; then
			checks+=("FAIL $name: $SETUP_FAILED")
			failed=1
		fi
		for t in $targets; do
			case $t in
			min_ratio=*)
				[ -n "$pair" ] || die "$name: min_ratio needs a ref"
				target "$name" "req/s $ratio x $pair" "$ratio" ">=" "${t#min_ratio=}" ""
				;;
			max_p99_ms=*)
				p99_target "$name" "$p99" "${t#max_p99_ms=}" "$pair" "$targets"
				;;
			esac
		done
	done

	cpu_summary
	server_settings
	! selected realtime || measure_realtime

	printf '\n'
	printf '%s\n' "${checks[@]}"
	printf '\nraw wrk output and results.jsonl: %s\n' "$OUT"
	return "$failed"
}

# Sourced (tests/bench/soak.sh reuses the stack, the account and the
# measuring helpers above): define everything, measure nothing.
[ "${BASH_SOURCE[0]}" != "$0" ] || main
