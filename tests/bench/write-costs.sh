#!/usr/bin/env bash
# tests/bench/write-costs.sh — what each index, trigger and foreign key on the
# write path of a new post costs the database, per post: the server's insert
# (post_insert, as tests/bench/pgbench-post.sql runs it, sealed rows from
# `sotto bench-data --post-rows`) on a scratch copy of the stack's database,
# the backend's CPU time over COSTS_POSTS inserts in a transaction that is
# rolled back, with the full schema and with one object dropped inside that
# transaction (so the rollback puts it back), in COSTS_ROUNDS rounds in ABBA
# order; the median of each side. That is the executor's work an object adds
# to each insert (its index entries, its trigger, its check), without the
# commit's WAL flush, which is the same for all; on a shared machine it moves
# far less than a rate (pgbench_post with and without an object swung
# +-30% from run to run on two loaded cores). Nothing is changed on the
# stack's own database; the copy (sotto_write_costs) is dropped at the end.
#
# The indexes behind a constraint (primary keys, UNIQUE) are listed but not
# dropped: they are the rows' identity, not a choice.
#
# Needs the stack's PostgreSQL running (scripts/stack.sh; `make up`).
# Environment: SOTTO_VAR (<repo>/var), SOTTO_BIN (<repo>/sotto),
# COSTS_POSTS (2000), COSTS_ROUNDS (5). Reads /proc of the cluster's
# backends: run it as the user the cluster runs as, or root.
set -euo pipefail

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
VAR=$(realpath -m -- "${SOTTO_VAR:-$REPO/var}")
BIN=$(realpath -m -- "${SOTTO_BIN:-$REPO/sotto}")
POSTS=${COSTS_POSTS:-2000}
ROUNDS=${COSTS_ROUNDS:-5}
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

# The rows the inserts take (WARM more), for a new author: AUTHOR.
out=$(env SOTTO_ENV_FILE="$VAR/sotto.env" DATABASE_URL="$COPY_URL" \
	"$BIN" bench-data --post-rows "$((POSTS + 100))" 2>&1) || {
	grep -v '^{' <<<"$out" >&2
	die "sotto bench-data --post-rows failed"
}
AUTHOR=$(sed -n 's/^bench-data: post rows of account \([0-9][0-9]*\)$/\1/p' <<<"$out")
[ -n "$AUTHOR" ] || die "sotto bench-data --post-rows: no author in its output"

# costs_insert(author, first, n, day): microseconds per insert of rows
# first..first+n-1, in the caller's transaction. The statement is
# post_insert's, filled in as tests/bench/pgbench-post.sql fills it.
q "CREATE FUNCTION costs_insert(author bigint, first integer, n integer, on_day integer)
	RETURNS double precision LANGUAGE plpgsql AS \$\$
	DECLARE t0 timestamptz := clock_timestamp();
	BEGIN
		FOR i IN first .. first + n - 1 LOOP
			INSERT INTO posts (id, author_pk, parent_pk, community_pk, body_sealed, day)
			VALUES ((SELECT r.id FROM bench_post_rows r WHERE r.n = i), author, NULL, NULL,
			        (SELECT r.body FROM bench_post_rows r WHERE r.n = i), on_day);
		END LOOP;
		RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
	END \$\$"

# sample [SQL]: the backend's CPU time per insert in microseconds (the
# first field of /proc/<pid>/schedstat, nanoseconds on the CPU, read by
# psql around the timed inserts: on a loaded machine the backend's own
# clock also counts the time it waits for a core), with SQL (a DROP) run
# first in the same transaction, which is rolled back. WARM inserts before
# the timed ones fill the session's caches and plans (the first insert of
# a session takes milliseconds).
WARM=100
sample() {
	local day=$(($(date +%s) / 86400)) out
	out=$(psql "$COPY_URL" -XAtq -v ON_ERROR_STOP=1 <<-EOF
		BEGIN;
		${1:+$1;}
		SELECT FROM costs_insert($AUTHOR, 0, $WARM, $day);
		SELECT pg_backend_pid() AS pid \\gset
		\\setenv COSTS_PID :pid
		\\! cut -d' ' -f1 /proc/\$COSTS_PID/schedstat
		SELECT FROM costs_insert($AUTHOR, $WARM, $POSTS, $day);
		\\! cut -d' ' -f1 /proc/\$COSTS_PID/schedstat
		ROLLBACK;
	EOF
	) || die "a sample failed: $out"
	awk -v n="$POSTS" 'NR == 1 { t0 = $1 } NR == 2 { printf "%.2f\n", ($1 - t0) / 1000 / n }' <<<"$out"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# The objects on the write path of a top-level post: kind, name and the SQL
# that drops it (tab separated).
objects() {
	q "SELECT 'index', i.indexrelid::regclass::text, 'DROP INDEX ' || i.indexrelid::regclass
		FROM pg_index i WHERE i.indrelid IN ('posts'::regclass, 'mod_scan'::regclass)
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
		UNION ALL
		SELECT 'trigger', t.tgname::text, format('DROP TRIGGER %I ON %s', t.tgname, t.tgrelid::regclass)
		FROM pg_trigger t WHERE t.tgrelid = 'posts'::regclass AND NOT t.tgisinternal
		AND (t.tgtype & 4) <> 0   -- fired by INSERT
		UNION ALL
		SELECT 'foreign key', c.conname::text,
		format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname)
		FROM pg_constraint c WHERE c.conrelid IN ('posts'::regclass, 'mod_scan'::regclass)
		AND c.contype = 'f'
		ORDER BY 1, 2" -F $'\t'
}

LIST=$(objects) || die "cannot list the write path's indexes, triggers and foreign keys"
say "$POSTS inserts a sample, $ROUNDS rounds a side per object; backend CPU microseconds per insert (medians)"
printf '%-12s %-28s %9s %9s %9s\n' kind object "us with" without "cost us"
while IFS=$'\t' read -r kind name drop; do
	with="" without=""
	for r in $(seq "$ROUNDS"); do
		if [ $((r % 2)) = 1 ]; then
			with+="$(sample)"$'\n' without+="$(sample "$drop")"$'\n'
		else
			without+="$(sample "$drop")"$'\n' with+="$(sample)"$'\n'
		fi
	done
	w=$(median <<<"${with%$'\n'}") o=$(median <<<"${without%$'\n'}")
	awk -v k="$kind" -v n="$name" -v w="$w" -v o="$o" \
		'BEGIN { printf "%-12s %-28s %9.2f %9.2f %9.2f\n", k, n, w, o, w - o }'
done <<<"$LIST"
q "SELECT 'constraint', i.indexrelid::regclass FROM pg_index i
	WHERE i.indrelid IN ('posts'::regclass, 'mod_scan'::regclass)
	AND EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)" -F $'\t' |
	while IFS=$'\t' read -r kind name; do
		printf '%-12s %-28s %9s\n' "$kind" "$name" kept
	done
