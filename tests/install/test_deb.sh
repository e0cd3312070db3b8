#!/usr/bin/env bash
# tests/install/test_deb.sh — the Debian package, as an operator gets it:
#   1. `make deb` builds it from this tree;
#   2. dpkg installs it: files in their FHS places, settings as conffiles,
#      the `sotto` system user, units installed but not enabled;
#   3. `systemd-analyze verify` accepts the installed units (their ExecStart=
#      binary now exists);
#   4. the installed binary, with the installed /etc/sotto/sotto.env, passes
#      `sotto check-config` and runs `sotto migrate` (twice: the second run
#      applies nothing) against a scratch PostgreSQL cluster, run by user
#      postgres on a private socket directory and stopped by its PID;
#   5. dpkg --purge removes it again.
# Needs root (it installs system-wide, as CI does on a fresh Debian 12);
# without root it is skipped, except with CI set, where it fails. It refuses
# to run when a sotto package is installed already. Starts no service.
# Runs on one host (CI from several clones at once) take turns from that
# check to the purge, with flock on /run/lock/sotto-test-deb.lock (waiting
# 900 s at most), so that one run's package is never taken for an
# installation that was there before; the build comes before the lock.
set -euo pipefail

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
PG_BIN=/usr/lib/postgresql/15/bin
UNITS=(sotto.socket sotto.service sotto-moderate.service sotto-cleanup.service
       sotto-cleanup.timer)

# Fixed, not per clone: every run on the host takes turns on the same file.
LOCK_FILE=/run/lock/sotto-test-deb.lock
[ -d /run/lock ] || LOCK_FILE=/tmp/sotto-test-deb.lock
LOCK_WAIT=900 # seconds; under the lock a run installs, checks, migrates and purges

say() { echo "test_deb: $*"; }
fail() { echo "test_deb: FAIL: $*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then
	[ -z "${CI:-}" ] || fail "needs root: it installs the package"
	say "skipped: needs root (it installs the package system-wide)"
	exit 0
fi

tmp=$(mktemp -d /tmp/sotto-install.XXXXXX)
chmod 755 "$tmp"
pg_pid=
installed=0

# Wait until process pid has gone (60 s at most).
wait_gone() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ -e "/proc/$1" ] || return 0
		sleep 0.1
	done
	return 1
}

cleanup() {
	if [ -n "$pg_pid" ]; then
		kill -INT "$pg_pid" 2>/dev/null || true
		wait_gone "$pg_pid" || say "PostgreSQL (pid $pg_pid) did not stop"
	fi
	if [ "$installed" = 1 ]; then
		dpkg --purge sotto >/dev/null || say "dpkg --purge sotto failed"
	fi
	rm -rf -- "$tmp"
}
trap cleanup EXIT

# Run a step's command with its output in a log, shown when it fails.
logged() { # name command...
	local log=$tmp/$1.log
	shift
	if ! "$@" >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		fail "$*"
	fi
}

# ---- 1. build -------------------------------------------------------------
say "make deb"
logged build make -C "$REPO" deb
deb=$(echo "$REPO"/build/deb/sotto_*_"$(dpkg --print-architecture)".deb)
[ -f "$deb" ] || fail "make deb made no package in build/deb/"
say "built ${deb#"$REPO"/}"

# ---- 2. install -----------------------------------------------------------
# Held until this script exits (after cleanup's purge); the scratch
# PostgreSQL gets no copy of the descriptor, so it cannot keep it.
exec 9>>"$LOCK_FILE"
if ! flock -n 9; then
	say "waiting for another run's package test to end (lock $LOCK_FILE, ${LOCK_WAIT} s at most)"
	flock -w "$LOCK_WAIT" 9 || fail "$LOCK_FILE still held after $LOCK_WAIT s"
fi
if dpkg-query -W -f='${Status}' sotto 2>/dev/null | grep -q ' installed$'; then
	fail "a sotto package is installed already; this test would replace and remove it"
fi
installed=1
logged install env DEBIAN_FRONTEND=noninteractive dpkg -i "$deb"
say "installed: $(dpkg-query -W -f='${Package} ${Version}' sotto)"

for f in /usr/bin/sotto /etc/sotto/moderation.rules /etc/sotto/sotto.env \
	/usr/share/sotto/admin/index.html /usr/share/sotto/oauth/index.html /usr/share/sotto/nginx/sotto.conf \
	/usr/share/sotto/nginx/sotto-http.conf /usr/share/sotto/nginx/sotto-locations.conf; do
	[ -f "$f" ] || fail "$f is not installed"
done
for f in "$REPO"/sql/*.sql; do
	cmp -s "$f" "/usr/share/sotto/sql/${f##*/}" || fail "sql/${f##*/} is not in /usr/share/sotto/sql"
done
for u in "${UNITS[@]}"; do
	[ -f "/lib/systemd/system/$u" ] || fail "unit $u is not in /lib/systemd/system"
	# disabled, or static (started by another unit: the cleanup timer's service)
	state=$(systemctl is-enabled "$u" 2>/dev/null || true)
	case $state in disabled | static) ;; *) fail "$u is '$state' after installation" ;; esac
done
conffiles=$(dpkg-query -W -f='${Conffiles}' sotto)
for f in /etc/sotto/moderation.rules /etc/sotto/sotto.env; do
	grep -q "^ $f " <<<"$conffiles" || fail "$f is not a conffile"
done
[ "$(stat -c %a /etc/sotto/credentials)" = 700 ] || fail "/etc/sotto/credentials is not mode 0700"
[ "$(stat -c %a /etc/sotto/sotto.env)" = 640 ] || fail "/etc/sotto/sotto.env is not mode 0640"
getent passwd sotto >/dev/null || fail "postinst created no sotto user"
[ "$(getent passwd sotto | cut -d: -f7)" = /usr/sbin/nologin ] || fail "user sotto has a login shell"
say "files, conffiles, user sotto and disabled units: ok"

# ---- 3. the installed units -----------------------------------------------
units=("${UNITS[@]/#//lib/systemd/system/}")
out=$(systemd-analyze verify "${units[@]}" 2>&1) || { echo "$out" >&2; fail "systemd-analyze verify"; }
if grep sotto <<<"$out" >&2; then
	fail "systemd-analyze verify warns about the installed units"
fi
say "systemd-analyze verify ${UNITS[*]}: ok"

# ---- 4. check-config and migrate with the installed settings --------------
mkdir "$tmp/pg" "$tmp/run"
chown postgres:postgres "$tmp/pg" "$tmp/run"
as_postgres() { (cd / && runuser -u postgres -- "$@"); }
logged initdb as_postgres "$PG_BIN/initdb" -D "$tmp/pg" -U postgres --auth=trust \
	-E UTF8 --no-instructions
logged pg_start as_postgres "$PG_BIN/pg_ctl" -D "$tmp/pg" -l "$tmp/pg/server.log" -w -t 60 \
	-o "-c listen_addresses='' -k $tmp/run" start 9>&-
pg_pid=$(head -n 1 "$tmp/pg/postmaster.pid")
logged createdb as_postgres "$PG_BIN/createdb" -h "$tmp/run" -U postgres -E UTF8 sotto
say "scratch PostgreSQL: pid $pg_pid, socket directory $tmp/run"

# The credentials as systemd hands them to the service (LoadCredential=):
# one file per name, readable by the service's user only.
cred=$tmp/credentials
mkdir -m 700 "$cred"
secret() { head -c 32 /dev/urandom | base64; }
secret >"$cred/JWT_SECRET"
secret >"$cred/IP_HMAC_KEY"
echo "1:$(secret)" >"$cred/CONTENT_KEYS"
echo "postgresql:///sotto?host=$tmp/run&user=postgres" >"$cred/DATABASE_URL"
echo "unix:///run/redis/redis-server.sock" >"$cred/REDIS_URL"
: >"$cred/ADMIN_REVIEW_TOKEN"
: >"$cred/ADMIN_UI_TOKEN"
chmod 400 "$cred"/*
chown -R sotto:sotto "$cred"

# The operator's check, as root, reading the installed env file.
out=$(cd / && env -i PATH=/usr/bin:/bin SOTTO_ENV_FILE=/etc/sotto/sotto.env \
	CREDENTIALS_DIRECTORY="$cred" /usr/bin/sotto check-config 2>&1) ||
	{ echo "$out" >&2; fail "sotto check-config"; }
grep -q '^configuration ok' <<<"$out" || { echo "$out" >&2; fail "sotto check-config said no ok"; }
say "sotto check-config: $out"

# sotto.service's ExecStartPre: user sotto, working directory /, the env
# file's settings in the environment (systemd reads the file as root).
mapfile -t settings < <(sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' /etc/sotto/sotto.env)
migrate() {
	(cd / && runuser -u sotto -- env -i PATH=/usr/bin:/bin "${settings[@]}" \
		CREDENTIALS_DIRECTORY="$cred" /usr/bin/sotto migrate)
}
applied() {
	as_postgres "$PG_BIN/psql" -h "$tmp/run" -U postgres -d sotto -XAtq \
		-c 'SELECT count(*) FROM schema_migrations'
}
n_sql=$(find "$REPO/sql" -maxdepth 1 -name '*.sql' | wc -l)
logged migrate migrate
[ "$(applied)" = "$n_sql" ] || fail "sotto migrate applied $(applied) of $n_sql migrations"
logged migrate_again migrate
[ "$(applied)" = "$n_sql" ] || fail "a second sotto migrate changed schema_migrations"
say "sotto migrate as user sotto: $n_sql migrations applied, a second run applied none"

# ---- 5. remove ------------------------------------------------------------
logged purge dpkg --purge sotto
installed=0
for f in /usr/bin/sotto /usr/share/sotto /etc/sotto /lib/systemd/system/sotto.service; do
	[ ! -e "$f" ] || fail "$f is left after dpkg --purge sotto"
done
say "dpkg --purge sotto: everything removed"
say "ok"
