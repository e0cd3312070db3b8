#!/usr/bin/env bash
# tests/bench/write-costs.sh — what each index, trigger and foreign key on the
# write path of a new post costs the database: pgbench_post
# (tests/bench/pgbench-post.sql, the server's own statements) on a scratch
# copy of the stack's database, with each one dropped in turn and put back,
# in rounds against the copy with all of them (ABBA order). Prints, per
# object, the CPU time PostgreSQL spent per post with and without it (every
# process of the cluster: the backends, the WAL writer...; from /proc, so a
# loaded machine moves it far less than the rate, which is printed too) and
# what the object costs: the difference. Nothing is changed on the stack's
# own database; the copy (sotto_write_costs) is dropped at the end.
#
# The indexes behind a constraint (primary keys, UNIQUE) are listed but not
# dropped: they are the rows' identity, not a choice. The copy has no
# classifier connected, so the posts' mod_scan rows stay pending there: this
# measures the database's side only.
#
# Needs the stack's PostgreSQL running (scripts/stack.sh; `make up`).
# Environment: SOTTO_VAR (<repo>/var), SOTTO_BIN (<repo>/sotto),
# COSTS_SECONDS (3, per run), COSTS_ROUNDS (2), COSTS_CLIENTS (8, the
# server's default workers on 2 cores), BENCH_POST_ROWS_RATE (10000).
set -euo pipefail

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
VAR=$(realpath -m -- "${SOTTO_VAR:-$REPO/var}")
BIN=$(realpath -m -- "${SOTTO_BIN:-$REPO/sotto}")
SECS=${COSTS_SECONDS:-3}
ROUNDS=${COSTS_ROUNDS:-2}
CLIENTS=${COSTS_CLIENTS:-8}
RATE=${BENCH_POST_ROWS_RATE:-10000}
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
SCRIPT=$REPO/tests/bench/pgbench-post.sql
COPY_DB=sotto_write_costs

say() { printf 'write-costs: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

DB_URL=$(sed -n 's/^DATABASE_URL=//p' "$VAR/sotto.env" 2>/dev/null | tail -n 1)
[ -n "$DB_URL" ] || die "no DATABASE_URL in $VAR/sotto.env (SOTTO_VAR)"
[[ $DB_URL == *"/sotto?"* ]] || die "DATABASE_URL does not name the database sotto"
COPY_URL=${DB_URL/\/sotto\?//$COPY_DB?}
ADMIN_URL=${DB_URL/\/sotto\?//postgres?}

q() { # SQL [psql option...] -> unaligned output from the copy
	local sql=$1
	shift
	psql "$COPY_URL" -XAtq -v ON_ERROR_STOP=1 "$@" -c "$sql"
}

cleanup() {
	psql "$ADMIN_URL" -XAtq -c "DROP DATABASE IF EXISTS $COPY_DB" >/dev/null 2>&1 ||
		say "warning: could not drop the database $COPY_DB"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "copying the stack's database into $COPY_DB"
psql "$ADMIN_URL" -XAtq -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
	-c "DROP DATABASE IF EXISTS $COPY_DB" -c "CREATE DATABASE $COPY_DB" >/dev/null
pg_dump --no-owner "$DB_URL" | psql "$COPY_URL" -XAtq -v ON_ERROR_STOP=1 >/dev/null
# No autovacuum of the written tables in the middle of a run.
q "ALTER TABLE posts SET (autovacuum_enabled = off);
	ALTER TABLE mod_scan SET (autovacuum_enabled = off)"

# Rows of bench_post_rows for the runs: a fresh author and table whenever
# fewer than a run can use are left. AUTHOR, BASE (the first unused row), ROWS.
AUTHOR="" BASE=0 ROWS=0
rows_for_a_run() {
	local n=$((SECS * RATE * 4)) out
	[ $((ROWS - BASE)) -lt $((SECS * RATE)) ] || return 0
	out=$(env SOTTO_ENV_FILE="$VAR/sotto.env" DATABASE_URL="$COPY_URL" \
		"$BIN" bench-data --post-rows "$n" 2>&1) || {
		grep -v '^{' <<<"$out" >&2
		die "sotto bench-data --post-rows failed"
	}
	AUTHOR=$(sed -n 's/^bench-data: post rows of account \([0-9][0-9]*\)$/\1/p' <<<"$out")
	[ -n "$AUTHOR" ] || die "sotto bench-data --post-rows: no author in its output"
	BASE=0 ROWS=$n
}

# run: one pgbench_post run; its tps into TPS, BASE moved past the rows it
# used (globals: not in a subshell).
TPS=0 TICKS=0 POSTS=0
run() {
	local before out t0
	rows_for_a_run
	before=$(q "SELECT coalesce(max(pk), 0) FROM posts")
	t0=$(pg_ticks)
	out=$("$PGBENCH" -n -M prepared -c "$CLIENTS" -j 2 -T "$SECS" -D "author=$AUTHOR" \
		-D "day=$(($(date +%s) / 86400))" -D "clients=$CLIENTS" -D "base=$BASE" -D k=0 \
		-f "$SCRIPT" "$COPY_URL" 2>&1) || { printf '%s\n' "$out" >&2; die "pgbench failed"; }
	sleep 0.2   # the postmaster reaps the backends
	TICKS=$(($(pg_ticks) - t0))
	POSTS=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	BASE=$(q "SELECT coalesce(max(r.n), $BASE - 1) + 1 FROM posts p
		JOIN bench_post_rows r ON r.id = p.id WHERE p.pk > $before")
	TPS=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | tail -n 1)
	[ -n "$TPS" ] || die "no tps in pgbench's output"
}

# The CPU clock ticks of the stack's PostgreSQL so far: the postmaster, its
# live children and the children it has reaped (the backends of finished
# pgbench runs). The stack's other sessions (the server's, the classifier's)
# are idle meanwhile, bar the classifier's look for work every 200 ms.
pg_ticks() {
	local pm t pid
	pm=$(head -n 1 "$VAR/pg/postmaster.pid") || die "cannot read $VAR/pg/postmaster.pid"
	t=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat")
	for pid in $(pgrep -P "$pm"); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
	done
	printf '%s\n' "$t"
}

# The objects on the write path of a top-level post: kind, name, the SQL
# that drops it, the SQL that puts it back (tab separated).
objects() {
	q "SELECT 'index', i.indexrelid::regclass::text, 'DROP INDEX ' || i.indexrelid::regclass,
		pg_get_indexdef(i.indexrelid)
		FROM pg_index i WHERE i.indrelid IN ('posts'::regclass, 'mod_scan'::regclass)
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
		UNION ALL
		SELECT 'trigger', t.tgname::text, format('DROP TRIGGER %I ON %s', t.tgname, t.tgrelid::regclass),
		pg_get_triggerdef(t.oid)
		FROM pg_trigger t WHERE t.tgrelid = 'posts'::regclass AND NOT t.tgisinternal
		AND (t.tgtype & 4) <> 0   -- fired by INSERT
		UNION ALL
		SELECT 'foreign key', c.conname::text,
		format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),
		format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname,
			pg_get_constraintdef(c.oid))
		FROM pg_constraint c WHERE c.conrelid IN ('posts'::regclass, 'mod_scan'::regclass)
		AND c.contype = 'f'
		ORDER BY 1, 2" -F $'\t'
}

LIST=$(objects) || die "cannot list the write path's indexes, triggers and foreign keys"
say "pgbench_post, $CLIENTS clients, $ROUNDS rounds of ${SECS} s a side per object"
printf '%-12s %-28s %9s %9s %11s %11s %9s\n' kind object "tps with" without \
	"cpu us with" without "cost us"
while IFS=$'\t' read -r kind name drop restore; do
	with=0 without=0 cpu_with=0 cpu_without=0 n_with=0 n_without=0
	for r in $(seq "$ROUNDS"); do
		for side in $( [ $((r % 2)) = 1 ] && echo "with without" || echo "without with"); do
			if [ "$side" = with ]; then
				run
				with=$(awk -v a="$with" -v b="$TPS" 'BEGIN { print a + b }')
				cpu_with=$((cpu_with + TICKS)) n_with=$((n_with + POSTS))
			else
				q "$drop"
				run
				without=$(awk -v a="$without" -v b="$TPS" 'BEGIN { print a + b }')
				cpu_without=$((cpu_without + TICKS)) n_without=$((n_without + POSTS))
				q "$restore"
			fi
		done
	done
	awk -v k="$kind" -v n="$name" -v w="$with" -v o="$without" -v r="$ROUNDS" \
		-v cw="$cpu_with" -v co="$cpu_without" -v nw="$n_with" -v no="$n_without" \
		-v hz="$(getconf CLK_TCK)" 'BEGIN {
		uw = nw > 0 ? cw * 1e6 / hz / nw : 0; uo = no > 0 ? co * 1e6 / hz / no : 0
		printf "%-12s %-28s %9.1f %9.1f %11.1f %11.1f %9.1f\n", k, n, w / r, o / r, uw, uo, uw - uo }'
done <<<"$LIST"
q "SELECT 'constraint', i.indexrelid::regclass FROM pg_index i
	WHERE i.indrelid IN ('posts'::regclass, 'mod_scan'::regclass)
	AND EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)" -F $'\t' |
	while IFS=$'\t' read -r kind name; do
		printf '%-12s %-28s %9s\n' "$kind" "$name" kept
	done
