#!/usr/bin/env bash
# scripts/stack.sh — sotto's development stack on one machine:
# PostgreSQL 15 and Redis on unix sockets only, the sotto pool, the classifier
# (`sotto moderate`), and nginx with TLS on 127.0.0.1. Several stacks can run side by side (own SOTTO_VAR and
# ports). Builds nothing: `make up` builds, then calls this.
#
#   stack.sh run                everything in the foreground; Ctrl-C stops what it started
#   stack.sh up                 start in the background, return once /health answers 200
#   stack.sh down               stop what is running (by PID files), keep the data
#   stack.sh status             what runs (exit 0 when all five run, 3 otherwise)
#   stack.sh stop  pg|redis|sotto|moderate|nginx
#   stack.sh start pg|redis|sotto|moderate|nginx
#   stack.sh deps               install missing Debian packages (root) or print the command
#   stack.sh env                print the path of the generated settings file
#   stack.sh nginx-conf         print the rendered nginx.conf (nginx/check.sh tests it)
#
# Environment:
#   SOTTO_VAR         state directory (default <repo>/var)
#   SOTTO_HTTPS_PORT  (8443)  SOTTO_HTTP_PORT (8080, redirects to https)
#   SOTTO_BIN         server binary (default <repo>/sotto)
#   STACK_NGINX_LOG_LEVEL  nginx error_log level (default emerg, as in
#                     production; see nginx/sotto.conf for why)
#   STACK_CLEANUP_INTERVAL  seconds between `sotto cleanup` runs (default 3600;
#                     one runs at every up)
#   STACK_LISTEN_ADDR  address nginx listens on (default 127.0.0.1; the
#                     cluster harness gives each app host its own)
#   STACK_NCHAN_REDIS_URL  redis://host:port: nchan keeps its channels in
#                     that Redis instead of this host's shared memory, so an
#                     event published on one host reaches subscribers of every
#                     host (default empty: shared memory, one host)
# Every SOTTO_*, ADMIN_* and secret variable in the environment reaches the
# server, and wins over $SOTTO_VAR/sotto.env (the server reads that file via
# SOTTO_ENV_FILE, then its environment). The stack owns three settings and
# always sets them: SOTTO_LISTEN, DATABASE_URL, REDIS_URL. `up` or `start
# sotto` restarts a running server that was started with other such
# variables, or from an older binary.
# DATABASE_READ_URL (a standby for reads) is passed on like the secrets.
#
# Layout under $SOTTO_VAR: run/ (sockets, pid files, PostgreSQL's socket
# directory), log/ (every log), pg/ (the cluster), redis/, nginx/ (rendered
# nginx.conf, self-signed certificate, temp dirs), sotto.env (settings and dev
# secrets, generated once, mode 600).
#
# As root: PostgreSQL refuses to run as root, so the cluster belongs to the
# system user postgres (initdb and pg_ctl through runuser), and the server
# connects as role postgres over the unix socket, where the cluster trusts
# every local connection. That is acceptable for a loopback-only development
# stack and nothing else. postgres must be able to traverse $SOTTO_VAR and all
# its parents. nginx workers run as root too, to reach the pool's socket.
# Not as root: everything runs as the caller and the role is the caller's name.

set -euo pipefail

readonly SERVICES="pg redis sotto moderate nginx"

say() { printf 'stack: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
	sed -n '2,/^# Every/{/^# Every/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
	exit 2
}

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
VAR=$(realpath -m -- "${SOTTO_VAR:-$REPO/var}")
BIN=$(realpath -m -- "${SOTTO_BIN:-$REPO/sotto}")
HTTPS_PORT=${SOTTO_HTTPS_PORT:-8443}
HTTP_PORT=${SOTTO_HTTP_PORT:-8080}
NGINX_LOG_LEVEL=${STACK_NGINX_LOG_LEVEL:-emerg}
LISTEN_ADDR=${STACK_LISTEN_ADDR:-127.0.0.1}
NCHAN_REDIS_URL=${STACK_NCHAN_REDIS_URL:-}
PG_BIN=/usr/lib/postgresql/15/bin
NGINX=/usr/sbin/nginx
RUN=$VAR/run
LOG=$VAR/log
ENV_FILE=$VAR/sotto.env

if [ "$(id -u)" = 0 ]; then
	AS_ROOT=1
	PG_ROLE=postgres
else
	AS_ROOT=0
	PG_ROLE=$(id -un)
fi

# Services this invocation started, in start order; stopped again if the
# command fails (and by `run` on Ctrl-C).
STARTED=()
KEEP_STARTED=0

# The caller's settings for the server, captured before this script exports
# anything. Stack-only variables are left out.
caller_settings() {
	local n
	for n in $(compgen -e); do
		case $n in
		SOTTO_VAR | SOTTO_BIN | SOTTO_HTTPS_PORT | SOTTO_HTTP_PORT) ;;
		SOTTO_LISTEN | SOTTO_ENV_FILE) ;; # set by the stack
		SOTTO_* | ADMIN_* | JWT_SECRET | IP_HMAC_KEY | CONTENT_KEYS | DATABASE_READ_URL)
			printf '%s=%s\n' "$n" "${!n}" ;;
		esac
	done | LC_ALL=C sort
}
CALLER_SETTINGS=$(caller_settings)

# ---------------------------------------------------------------------------
# checks

check_config() {
	[[ $VAR =~ ^/[A-Za-z0-9/._+-]+$ ]] ||
		die "SOTTO_VAR must be a path of letters, digits and / . _ + - only (it goes into nginx.conf and URLs): $VAR"
	local p
	for p in "$HTTPS_PORT" "$HTTP_PORT"; do
		if ! [[ $p =~ ^[0-9]+$ ]] || [ "$p" -lt 1 ] || [ "$p" -gt 65535 ]; then
			die "not a TCP port: $p"
		fi
	done
	[ "$HTTPS_PORT" != "$HTTP_PORT" ] || die "SOTTO_HTTPS_PORT and SOTTO_HTTP_PORT are both $HTTP_PORT"
	# sun_path holds 107 bytes; PostgreSQL's socket has the longest name.
	p="$RUN/.s.PGSQL.5432"
	[ "${#p}" -le 107 ] ||
		die "SOTTO_VAR is too long for unix socket paths (${#p} > 107 bytes): $VAR"
}

# Packages from scripts/packages.txt that are not installed. As root, install
# them; otherwise say what to run and stop.
check_packages() {
	command -v dpkg-query >/dev/null 2>&1 || {
		say "dpkg-query not found: not checking packages (this script expects Debian 12)"
		return 0
	}
	local want=() missing=() p installed
	mapfile -t want < <(sed -e 's/#.*//' "$REPO/scripts/packages.txt" | tr -s ' \t' '\n' | sed '/^$/d')
	installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${want[@]}" 2>/dev/null |
		awk '$1 == "ii" { print $2 }' || true)
	for p in "${want[@]}"; do
		grep -qxF -- "$p" <<<"$installed" || missing+=("$p")
	done
	[ "${#missing[@]}" -eq 0 ] && return 0
	if [ "$AS_ROOT" = 1 ]; then
		say "installing missing packages: ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
	else
		say "missing packages; run as root:"
		printf '  apt-get install -y %s\n' "${missing[*]}" >&2
		exit 1
	fi
}

# ---------------------------------------------------------------------------
# processes

pg_as_owner() { # run a PostgreSQL program as the cluster's owner
	if [ "$AS_ROOT" = 1 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# True when pid is a live (not zombie) process called name (by comm or by
# the executable's file name, so a renamed or rebuilt binary still counts).
# True while pid exists and has not exited (not a zombie), whatever it runs.
proc_exists() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	case ${stat%% *} in Z | X | x) return 1 ;; esac
}

proc_alive() {
	local pid=$1 name=$2 comm exe
	[[ $pid =~ ^[1-9][0-9]*$ ]] || return 1
	proc_exists "$pid" || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[ "$comm" = "${name:0:15}" ] && return 0
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	exe=${exe% (deleted)}
	[ "${exe##*/}" = "$name" ]
}

pidfile_of() {
	case $1 in
	pg) echo "$VAR/pg/postmaster.pid" ;;
	*) echo "$RUN/$1.pid" ;;
	esac
}

procname_of() {
	case $1 in
	pg) echo postgres ;;
	redis) echo redis-server ;;
	sotto | moderate) echo "${BIN##*/}" ;;
	nginx) echo nginx ;;
	cleanup) echo bash ;;
	esac
}

# Print the PID of a running service; false when it does not run.
running_pid() {
	local f pid
	f=$(pidfile_of "$1")
	[ -s "$f" ] || return 1
	read -r pid <"$f" || true
	if [ "$1" = pg ]; then
		pg_pid_is_ours "$pid" || return 1
	else
		proc_alive "$pid" "$(procname_of "$1")" || return 1
	fi
	echo "$pid"
}

# Wait until pid is gone; false on timeout (seconds).
wait_gone() {
	local pid=$1 name=$2 timeout=$3 i
	for ((i = 0; i < timeout * 10; i++)); do
		proc_alive "$pid" "$name" || return 0
		sleep 0.1
	done
	! proc_alive "$pid" "$name"
}

# True when a live (not zombie) process is in process group pgid.
group_alive() {
	local pgid=$1 f line fields
	for f in /proc/[0-9]*/stat; do
		{ read -r line <"$f"; } 2>/dev/null || continue
		# after "comm)": state ppid pgrp ...
		read -r -a fields <<<"${line##*) }"
		[ "${fields[2]}" = "$pgid" ] && [ "${fields[0]}" != Z ] && return 0
	done
	return 1
}

wait_group_gone() { # pgid timeout_seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		group_alive "$1" || return 0
		sleep 0.1
	done
	return 1
}

# PIDs of live processes in process group pgid that hold file open.
group_members_holding() {
	local pgid=$1 file=$2 f line fields pid fd
	for f in /proc/[0-9]*/stat; do
		{ read -r line <"$f"; } 2>/dev/null || continue
		read -r -a fields <<<"${line##*) }"
		if [ "${fields[2]}" != "$pgid" ] || [ "${fields[0]}" = Z ]; then
			continue
		fi
		pid=${f#/proc/}
		pid=${pid%/stat}
		for fd in "/proc/$pid/fd/"*; do
			if [ "$(readlink "$fd" 2>/dev/null)" = "$file" ]; then
				echo "$pid"
				break
			fi
		done
	done
}

# After a crash of a service's leader (kill -9, OOM), its children can live
# on: nginx workers keep the ports, pool workers keep database connections.
# Both run in the leader's process group (nginx and setsid made the leader a
# session leader), and hold the service's log open, which tells them apart
# from anything else that might have that group id now.
reap_orphans() { # service pidfile logfile
	local pid pids p i
	[ -s "$2" ] || return 0
	read -r pid <"$2" || return 0
	[[ $pid =~ ^[1-9][0-9]*$ ]] || return 0
	pids=$(group_members_holding "$pid" "$3")
	[ -n "$pids" ] || return 0
	say "$1: stopping processes a dead $1 left behind: $(echo "$pids" | tr '\n' ' ')"
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for ((i = 0; i < 50; i++)); do
		[ -n "$(group_members_holding "$pid" "$3")" ] || return 0
		sleep 0.1
	done
	for p in $(group_members_holding "$pid" "$3"); do kill -KILL "$p" 2>/dev/null || true; done
}

# TERM, wait, then KILL (the whole process group when group=1).
terminate() {
	local svc=$1 pid=$2 timeout=$3 group=${4:-0} name
	name=$(procname_of "$svc")
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" "$name" "$timeout"; then
		say "$svc (pid $pid) did not stop within ${timeout}s; sending SIGKILL"
		if [ "$group" = 1 ]; then
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		else
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait_gone "$pid" "$name" 5 || die "$svc (pid $pid) survives SIGKILL"
	fi
	# Reap it when it is our child (`run`); harmless otherwise.
	wait "$pid" 2>/dev/null || true
}

show_log() { # file [lines]
	[ -s "$1" ] || return 0
	printf -- '--- last lines of %s\n' "$1" >&2
	tail -n "${2:-20}" -- "$1" >&2
}

# ---------------------------------------------------------------------------
# layout, settings, secrets

prepare_layout() {
	mkdir -p -- "$VAR" "$RUN" "$LOG" "$VAR/pg" "$VAR/redis" "$VAR/nginx/tmp" "$RUN/nchan"
	# nginx makes the nchan publisher socket 0666: only this directory guards it.
	chmod 0750 -- "$RUN/nchan"
	[ "$AS_ROOT" = 1 ] || return 0
	# PostgreSQL (user postgres) writes its socket and lock file into run/
	# and its log into log/pg.log.
	chown postgres:postgres "$RUN"
	touch "$LOG/pg.log"
	chown postgres:postgres "$LOG/pg.log"
	if ! runuser -u postgres -- test -w "$RUN" -a -x "$RUN" 2>/dev/null; then
		local d=$RUN chain=()
		while [ "$d" != / ]; do
			chain=("$d" "${chain[@]}")
			d=$(dirname -- "$d")
		done
		for d in "${chain[@]}"; do
			if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
				die "PostgreSQL runs as user postgres, which cannot traverse $d" \
					"(owner $(stat -c %U -- "$d"), mode $(stat -c %a -- "$d")). Put the" \
					"stack where postgres can reach it (e.g. SOTTO_VAR=/tmp/sotto-var)" \
					"or allow traversal: chmod o+x $d"
			fi
		done
		die "user postgres cannot write to $RUN"
	fi
}

# Serialize commands that change the stack (fd 9; every long-lived child
# gets 9>&- so it does not inherit the lock).
take_lock() {
	exec 9>"$VAR/.stack.lock"
	flock -w 120 9 || die "another stack.sh holds $VAR/.stack.lock"
}
release_lock() { exec 9>&-; }

urlencode_path() { # percent-encode a validated path for a URI query value
	local s=$1
	s=${s//%/%25}
	s=${s//+/%2B}
	printf '%s' "$s"
}

# libpq URI: the role in the authority part rather than &user=, so the env
# file stays sourceable by a shell.
database_url() { printf 'postgresql://%s@/sotto?host=%s' "$PG_ROLE" "$(urlencode_path "$RUN")"; }

env_file_get() { # KEY -> value from the current env file, or nothing
	[ -f "$ENV_FILE" ] || return 0
	sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1
}

rand_b64() { openssl rand -base64 "$1"; }
rand_hex() { openssl rand -hex "$1"; }

# The stack's Redis password: the one in sotto.env's REDIS_URL, or nothing yet.
readonly REDIS_USER=sotto
redis_password() {
	env_file_get REDIS_URL | sed -n "s|^unix://$REDIS_USER:\([0-9a-f]*\)@.*|\1|p"
}

# redis-cli on the stack's Redis as its user (the password goes through the
# environment, not the command line).
stack_redis_cli() {
	REDISCLI_AUTH=$(redis_password) redis-cli --user "$REDIS_USER" -s "$RUN/redis.sock" "$@"
}

# Secrets are generated once and kept; the other lines follow the current
# SOTTO_VAR and are rewritten on every start.
write_env_file() {
	local jwt ipk ck art aut rpw tmp
	jwt=$(env_file_get JWT_SECRET)
	[ -n "$jwt" ] || jwt=$(rand_b64 32)
	ipk=$(env_file_get IP_HMAC_KEY)
	[ -n "$ipk" ] || ipk=$(rand_b64 32)
	ck=$(env_file_get CONTENT_KEYS)
	[ -n "$ck" ] || ck="1:$(rand_b64 32)"
	art=$(env_file_get ADMIN_REVIEW_TOKEN)
	[ -n "$art" ] || art=$(rand_hex 32)
	aut=$(env_file_get ADMIN_UI_TOKEN)
	[ -n "$aut" ] || aut=$(rand_hex 32)
	rpw=$(redis_password)
	[ -n "$rpw" ] || rpw=$(rand_hex 32)
	tmp=$(mktemp "$VAR/.sotto.env.XXXXXX")
	chmod 600 "$tmp"
	cat >"$tmp" <<EOF
# Development stack settings, written by scripts/stack.sh. The secrets were
# generated for this stack and are kept across restarts; the other values are
# rewritten at every start. Variables in the environment of stack.sh win.
SOTTO_DEV=1
SOTTO_LISTEN=$RUN/sotto.sock
DATABASE_URL=$(database_url)
REDIS_URL=unix://$REDIS_USER:$rpw@$RUN/redis.sock
SOTTO_NCHAN_PUBLISH=$RUN/nchan/nchan.sock
JWT_SECRET=$jwt
IP_HMAC_KEY=$ipk
CONTENT_KEYS=$ck
ADMIN_REVIEW_TOKEN=$art
ADMIN_UI_TOKEN=$aut
EOF
	if cmp -s "$tmp" "$ENV_FILE"; then
		rm -f "$tmp"
	else
		mv -f "$tmp" "$ENV_FILE"
	fi
}

# ---------------------------------------------------------------------------
# PostgreSQL

pg_init() {
	[ -f "$VAR/pg/PG_VERSION" ] && return 0
	[ -z "$(ls -A -- "$VAR/pg" 2>/dev/null)" ] ||
		die "$VAR/pg exists and is not a PostgreSQL cluster; move it away"
	[ -x "$PG_BIN/initdb" ] || die "$PG_BIN/initdb not found (package postgresql, version 15)"
	say "pg: initdb $VAR/pg"
	# Into pg.init, then renamed: a crash half-way leaves no half cluster.
	rm -rf -- "$VAR/pg.init"
	mkdir -m 700 -- "$VAR/pg.init"
	[ "$AS_ROOT" = 0 ] || chown postgres:postgres "$VAR/pg.init"
	if ! pg_as_owner "$PG_BIN/initdb" -D "$VAR/pg.init" -U "$PG_ROLE" \
		--auth-local=trust --auth-host=reject -E UTF8 --no-locale \
		--no-instructions >"$LOG/pg-initdb.log" 2>&1; then
		show_log "$LOG/pg-initdb.log"
		die "initdb failed"
	fi
	printf "\n# sotto development stack (scripts/stack.sh rewrites sotto.conf at every start)\ninclude_if_exists = 'sotto.conf'\n" \
		>>"$VAR/pg.init/postgresql.conf"
	rmdir -- "$VAR/pg"
	mv -- "$VAR/pg.init" "$VAR/pg"
}

pg_write_conf() {
	local f=$VAR/pg/sotto.conf
	cat >"$f" <<EOF
# Written by scripts/stack.sh at every start; included from postgresql.conf.
listen_addresses = ''
unix_socket_directories = '$RUN'
unix_socket_permissions = 0700
fsync = on
synchronous_commit = on
full_page_writes = on
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_line_prefix = '%m [%p] '
# No statement text, parameters or DETAIL lines in the log: they can carry
# user content. ERROR lines are left out too (their primary message can quote
# an input value); set log_min_messages = warning here while debugging SQL.
log_min_messages = log
log_min_error_statement = panic
log_error_verbosity = terse
log_checkpoints = off
log_connections = off
log_disconnections = off
log_autovacuum_min_duration = -1
EOF
	[ "$AS_ROOT" = 0 ] || chown postgres:postgres "$f"
}

pg_ensure_db() {
	local have
	have=$(pg_as_owner "$PG_BIN/psql" -h "$RUN" -U "$PG_ROLE" -d postgres -XAtq \
		-c "SELECT 1 FROM pg_database WHERE datname = 'sotto'") ||
		die "cannot query PostgreSQL at $RUN"
	[ "$have" = 1 ] && return 0
	pg_as_owner "$PG_BIN/createdb" -h "$RUN" -U "$PG_ROLE" -O "$PG_ROLE" -E UTF8 sotto ||
		die "createdb sotto failed"
}

# True when pid is a live process of this cluster: a postgres process whose
# working directory is the data directory (every PostgreSQL process chdirs
# there), so another cluster's process that reused the PID does not count.
pg_pid_is_ours() {
	proc_alive "$1" postgres && [ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$VAR/pg" ]
}

pg_cluster_alive() { # any live process of this cluster
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/cwd" 2>/dev/null)" = "$VAR/pg" ] || continue
		pg_pid_is_ours "${p#/proc/}" && return 0
	done
	return 1
}

# After a crash PostgreSQL finds its lock files (postmaster.pid, the socket's
# .lock) and refuses to start while the PID in them exists. A dead PID is fine
# for it, but a zombie or a reused PID is not (it only asks kill(pid, 0)). With
# no process of this cluster left, nothing can still use its shared memory,
# so lock files naming a PID that is not ours are stale.
pg_clear_stale_locks() {
	local f pid
	pg_cluster_alive && return 0
	for f in "$VAR/pg/postmaster.pid" "$RUN/.s.PGSQL.5432.lock"; do
		[ -s "$f" ] || continue
		pid=""
		read -r pid <"$f" || true
		pg_pid_is_ours "$pid" && continue
		say "pg: removing stale ${f##*/} (PID $pid is not a process of this cluster)"
		rm -f -- "$f"
	done
}

start_pg() {
	if running_pid pg >/dev/null; then
		pg_ensure_db
		return 0
	fi
	pg_init
	pg_write_conf
	pg_clear_stale_locks
	touch "$LOG/pg.log"
	[ "$AS_ROOT" = 0 ] || chown postgres:postgres "$LOG/pg.log"
	if ! pg_as_owner "$PG_BIN/pg_ctl" -D "$VAR/pg" -l "$LOG/pg.log" -w -t 60 -s start 9>&- >/dev/null; then
		show_log "$LOG/pg.log"
		die "PostgreSQL did not start"
	fi
	STARTED+=(pg)
	say "pg: started (socket $RUN/.s.PGSQL.5432)"
	pg_ensure_db
}

stop_pg() {
	running_pid pg >/dev/null || return 0
	if ! pg_as_owner "$PG_BIN/pg_ctl" -D "$VAR/pg" -m fast -w -t 60 -s stop >/dev/null; then
		say "pg: fast shutdown timed out; immediate shutdown"
		pg_as_owner "$PG_BIN/pg_ctl" -D "$VAR/pg" -m immediate -w -t 30 -s stop >/dev/null ||
			die "PostgreSQL does not stop"
	fi
	say "pg: stopped"
}

# ---------------------------------------------------------------------------
# Redis

start_redis() {
	running_pid redis >/dev/null && return 0
	rm -f -- "$RUN/redis.pid" "$RUN/redis.sock"
	write_env_file   # generates the Redis password on first use
	(umask 077 && cat >"$VAR/redis/redis.conf") <<EOF
# Written by scripts/stack.sh at every start. Only the ACL user sotto (its
# password is in sotto.env's REDIS_URL) may talk to this Redis.
port 0
unixsocket $RUN/redis.sock
unixsocketperm 700
user default off
user $REDIS_USER on >$(redis_password) ~* &* +@all
daemonize yes
supervised no
pidfile $RUN/redis.pid
logfile $LOG/redis.log
loglevel notice
dir $VAR/redis
save ""
appendonly no
EOF
	if ! redis-server "$VAR/redis/redis.conf" 9>&- >/dev/null; then
		show_log "$LOG/redis.log"
		die "redis-server did not start"
	fi
	local i
	for ((i = 0; i < 100; i++)); do
		if [ -S "$RUN/redis.sock" ] && [ "$(stack_redis_cli ping 2>/dev/null)" = PONG ] &&
			running_pid redis >/dev/null; then
			STARTED+=(redis)
			say "redis: started (socket $RUN/redis.sock)"
			return 0
		fi
		sleep 0.1
	done
	show_log "$LOG/redis.log"
	die "Redis did not answer on $RUN/redis.sock"
}

stop_redis() {
	local pid
	pid=$(running_pid redis) || { rm -f -- "$RUN/redis.pid"; return 0; }
	terminate redis "$pid" 20
	rm -f -- "$RUN/redis.pid" "$RUN/redis.sock"
	say "redis: stopped"
}

# ---------------------------------------------------------------------------
# sotto

# Why a running sotto process (service sotto or moderate) must be restarted to
# match this invocation, or nothing.
sotto_stale_reason() {
	local pid=$1 svc=${2:-sotto} exe
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || true
	case $exe in
	*" (deleted)") echo "its binary was rebuilt"; return ;;
	"$BIN") ;;
	*) echo "it runs ${exe:-another binary}, not $BIN"; return ;;
	esac
	[ "$BIN" -nt "$RUN/$svc.pid" ] && { echo "$BIN is newer"; return; }
	[ "$CALLER_SETTINGS" = "$(cat "$RUN/$svc.caller" 2>/dev/null)" ] ||
		echo "it was started with other SOTTO_*/ADMIN_*/secret variables"
}

# The settings file and the variables the stack owns, for `sotto serve` and
# `sotto moderate` alike.
server_env() {
	write_env_file
	export SOTTO_ENV_FILE=$ENV_FILE
	export SOTTO_LISTEN=$RUN/sotto.sock
	export DATABASE_URL
	DATABASE_URL=$(database_url)
	export REDIS_URL
	REDIS_URL=$(env_file_get REDIS_URL)
	export SOTTO_MIGRATIONS_DIR=${SOTTO_MIGRATIONS_DIR:-$REPO/sql}
}

start_sotto() {
	local pid reason i
	if pid=$(running_pid sotto); then
		reason=$(sotto_stale_reason "$pid")
		[ -n "$reason" ] || return 0
		say "sotto: restarting, $reason"
		stop_sotto
	fi
	[ -x "$BIN" ] || die "no server binary at $BIN: build it with make (or set SOTTO_BIN)"
	reap_orphans sotto "$RUN/sotto.pid" "$LOG/sotto.log"
	rm -f -- "$RUN/sotto.sock" "$RUN/sotto.pid"
	server_env

	# What the server was started with: the caller's variables (compared on
	# the next start, may hold secrets: 600) and the SOTTO_* settings in clear
	# for people and tests/bench.
	(umask 077 && printf '%s\n' "$CALLER_SETTINGS" >"$RUN/sotto.caller")
	compgen -e | grep '^SOTTO_' | LC_ALL=C sort | while read -r i; do printf '%s=%s\n' "$i" "${!i}"; done \
		>"$RUN/sotto.settings"

	printf '%s stack: migrate\n' "$(date -u +%FT%TZ)" >>"$LOG/sotto.log"
	if ! (cd "$REPO" && "$BIN" migrate) </dev/null >>"$LOG/sotto.log" 2>&1 9>&-; then
		show_log "$LOG/sotto.log"
		die "$BIN migrate failed"
	fi
	printf '%s stack: serve\n' "$(date -u +%FT%TZ)" >>"$LOG/sotto.log"
	# setsid: its own session and process group, so a Ctrl-C meant for the
	# caller does not reach it, and a stuck pool can be killed as a group.
	(cd "$REPO" && exec setsid "$BIN" serve) </dev/null >>"$LOG/sotto.log" 2>&1 9>&- &
	pid=$!
	echo "$pid" >"$RUN/sotto.pid"
	STARTED+=(sotto)
	for ((i = 0; i < 150; i++)); do
		# Not proc_alive: until the subshell has exec'd the server its name
		# is bash's, and that must not read as "exited" (then wait hangs).
		if ! proc_exists "$pid"; then
			wait "$pid" 2>/dev/null || true
			show_log "$LOG/sotto.log"
			die "sotto serve exited"
		fi
		if [ -S "$RUN/sotto.sock" ]; then
			say "sotto: started (pid $pid, socket $RUN/sotto.sock)"
			return 0
		fi
		sleep 0.1
	done
	show_log "$LOG/sotto.log"
	die "sotto serve did not create $RUN/sotto.sock within 15 s"
}

stop_sotto() {
	local pid timeout
	if pid=$(running_pid sotto); then
		# The pool drains for SOTTO_SHUTDOWN_TIMEOUT_MS; allow that and more.
		timeout=${SOTTO_SHUTDOWN_TIMEOUT_MS:-10000}
		[[ $timeout =~ ^[0-9]{1,9}$ ]] || timeout=10000
		timeout=$(((timeout + 999) / 1000 + 10))
		terminate sotto "$pid" "$timeout" 1
		# Workers outliving their master would keep old code serving.
		if ! wait_group_gone "$pid" 5; then
			say "sotto: workers outlived the master; sending SIGKILL to the group"
			kill -KILL -- "-$pid" 2>/dev/null || true
		fi
		say "sotto: stopped"
	else
		reap_orphans sotto "$RUN/sotto.pid" "$LOG/sotto.log"
	fi
	rm -f -- "$RUN/sotto.pid" "$RUN/sotto.sock"
}

# ---------------------------------------------------------------------------
# sotto moderate (the classifier; needs the schema `start_sotto` migrated)

start_moderate() {
	local pid reason i size
	if pid=$(running_pid moderate); then
		reason=$(sotto_stale_reason "$pid" moderate)
		[ -n "$reason" ] || return 0
		say "moderate: restarting, $reason"
		stop_moderate
	fi
	[ -x "$BIN" ] || die "no server binary at $BIN: build it with make (or set SOTTO_BIN)"
	reap_orphans moderate "$RUN/moderate.pid" "$LOG/moderate.log"
	rm -f -- "$RUN/moderate.pid"
	server_env
	(umask 077 && printf '%s\n' "$CALLER_SETTINGS" >"$RUN/moderate.caller")
	printf '%s stack: moderate\n' "$(date -u +%FT%TZ)" >>"$LOG/moderate.log"
	size=$(stat -c %s -- "$LOG/moderate.log")
	# setsid, as for serve: Ctrl-C is handled by this script, not sent to it.
	(cd "$REPO" && exec setsid "$BIN" moderate) </dev/null >>"$LOG/moderate.log" 2>&1 9>&- &
	pid=$!
	echo "$pid" >"$RUN/moderate.pid"
	STARTED+=(moderate)
	# Ready once it has reached the database (a courtesy: it retries anyway).
	for ((i = 0; i < 100; i++)); do
		if ! proc_exists "$pid"; then
			wait "$pid" 2>/dev/null || true
			show_log "$LOG/moderate.log"
			die "sotto moderate exited"
		fi
		if tail -c "+$((size + 1))" -- "$LOG/moderate.log" | grep -q '"connected to the database"'; then
			say "moderate: started (pid $pid)"
			return 0
		fi
		sleep 0.1
	done
	say "moderate: started (pid $pid), not connected yet (see $LOG/moderate.log)"
}

stop_moderate() {
	local pid
	if pid=$(running_pid moderate); then
		# It rolls back the batch in progress and kills its classifier command.
		terminate moderate "$pid" 10
		say "moderate: stopped"
	fi
	rm -f -- "$RUN/moderate.pid"
}

# ---------------------------------------------------------------------------
# nginx

ensure_cert() {
	local d=$VAR/nginx
	[ -s "$d/cert.pem" ] && [ -s "$d/key.pem" ] && return 0
	say "nginx: generating a self-signed certificate for 127.0.0.1"
	if ! (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 3650 -subj "/CN=127.0.0.1" \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$d/key.pem.tmp" -out "$d/cert.pem.tmp") >"$LOG/openssl.log" 2>&1; then
		show_log "$LOG/openssl.log"
		die "openssl could not create the certificate"
	fi
	chmod 644 "$d/cert.pem.tmp"
	mv -f -- "$d/key.pem.tmp" "$d/key.pem"
	mv -f -- "$d/cert.pem.tmp" "$d/cert.pem"
}

render_nginx_conf() { # -> file
	local user="" text nchan_redis=""
	[ "$AS_ROOT" = 0 ] || user="user root root;"
	if [ -n "$NCHAN_REDIS_URL" ]; then
		[[ $NCHAN_REDIS_URL =~ ^redis://[A-Za-z0-9.:_-]+(/[0-9]+)?$ ]] ||
			die "STACK_NCHAN_REDIS_URL: expected redis://host:port[/db]"
		nchan_redis="nchan_use_redis on; nchan_redis_url \"$NCHAN_REDIS_URL\";"
	fi
	[[ $LISTEN_ADDR =~ ^[0-9.]+$ ]] || die "STACK_LISTEN_ADDR: expected an IPv4 address"
	text=$(sed -e "s|@USER_DIRECTIVE@|$user|g" \
		-e "s|@VAR@|$VAR|g" \
		-e "s|@REPO@|$REPO|g" \
		-e "s|@WEB_ROOT@|$REPO/nginx|g" \
		-e "s|@SOCKET@|$RUN/sotto.sock|g" \
		-e "s|@HTTPS_PORT@|$HTTPS_PORT|g" \
		-e "s|@HTTP_PORT@|$HTTP_PORT|g" \
		-e "s|@ERROR_LOG_LEVEL@|$NGINX_LOG_LEVEL|g" \
		-e "s|@LISTEN_ADDR@|$LISTEN_ADDR|g" \
		-e "s|@NCHAN_REDIS@|$nchan_redis|g" \
		"$REPO/nginx/dev.conf.in")
	if grep -n '@[A-Z_]*@' <<<"$text" >&2; then
		die "nginx/dev.conf.in has a placeholder stack.sh does not know"
	fi
	printf '%s\n' "$text" >"$1"
}

nginx_workers() { # master pid -> sorted child pids
	tr ' ' '\n' <"/proc/$1/task/$1/children" 2>/dev/null | sed '/^$/d' | LC_ALL=C sort
}

nginx_cmd() { "$NGINX" -p "$VAR/nginx/" -c nginx.conf -e "$LOG/nginx-error.log" "$@"; }

nginx_test() {
	local out
	if ! out=$(nginx_cmd -t -q 2>&1); then
		printf '%s\n' "$out" >&2
		die "nginx rejects $VAR/nginx/nginx.conf"
	fi
}

start_nginx() {
	local pid conf=$VAR/nginx/nginx.conf out i
	ensure_cert
	mkdir -p -- "$VAR/nginx/tmp"
	render_nginx_conf "$conf.new"
	if pid=$(running_pid nginx); then
		if cmp -s "$conf.new" "$conf"; then
			rm -f -- "$conf.new"
		else
			mv -f -- "$conf.new" "$conf"
			nginx_test
			local old new
			old=$(nginx_workers "$pid")
			kill -HUP "$pid"
			# Return once a worker with the new configuration runs.
			for ((i = 0; i < 100; i++)); do
				new=$(nginx_workers "$pid")
				[ -n "$(comm -13 <(echo "$old") <(echo "$new"))" ] && break
				sleep 0.1
			done
			say "nginx: configuration changed, reloaded"
		fi
		return 0
	fi
	mv -f -- "$conf.new" "$conf"
	reap_orphans nginx "$RUN/nginx.pid" "$LOG/nginx-error.log"
	rm -f -- "$RUN/nginx.pid"
	nginx_test
	if ! out=$(nginx_cmd 9>&- 2>&1); then
		printf '%s\n' "$out" >&2
		die "nginx did not start"
	fi
	for ((i = 0; i < 50; i++)); do
		if pid=$(running_pid nginx); then
			STARTED+=(nginx)
			say "nginx: started (https://127.0.0.1:$HTTPS_PORT/, http://127.0.0.1:$HTTP_PORT/)"
			return 0
		fi
		sleep 0.1
	done
	show_log "$LOG/nginx-error.log"
	die "nginx did not write $RUN/nginx.pid"
}

stop_nginx() {
	local pid
	if ! pid=$(running_pid nginx); then
		reap_orphans nginx "$RUN/nginx.pid" "$LOG/nginx-error.log"
		rm -f -- "$RUN/nginx.pid"
		return 0
	fi
	terminate nginx "$pid" 20
	rm -f -- "$RUN/nginx.pid"
	say "nginx: stopped"
}

# ---------------------------------------------------------------------------
# cleanup: `sotto cleanup` (expired events and bans) once when the stack comes
# up, then every CLEANUP_INTERVAL seconds, in a background loop of its own
# process group (run/cleanup.pid, log/cleanup.log), stopped by `down`.

CLEANUP_INTERVAL=${STACK_CLEANUP_INTERVAL:-3600}

cleanup_pid() {
	local pid
	[ -s "$RUN/cleanup.pid" ] || return 1
	read -r pid <"$RUN/cleanup.pid" || return 1
	proc_alive "$pid" bash || return 1
	tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qx 'STACK_CLEANUP_LOOP=1' || return 1
	echo "$pid"
}

stop_cleanup() {
	local pid
	if pid=$(cleanup_pid); then
		kill -TERM -- "-$pid" 2>/dev/null || true
		wait_group_gone "$pid" 5 || kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	rm -f -- "$RUN/cleanup.pid"
}

# (Re)started at every up, so it runs with this invocation's settings.
start_cleanup() {
	[[ $CLEANUP_INTERVAL =~ ^[1-9][0-9]{0,6}$ ]] ||
		die "STACK_CLEANUP_INTERVAL must be a number of seconds"
	stop_cleanup
	(
		export SOTTO_ENV_FILE=$ENV_FILE DATABASE_URL REDIS_URL
		DATABASE_URL=$(database_url)
		REDIS_URL=$(env_file_get REDIS_URL)
		export STACK_CLEANUP_LOOP=1
		cd "$REPO"
		# shellcheck disable=SC2016 # expanded by the inner shell
		exec setsid bash -c 'while :; do "$1" cleanup; sleep "$2"; done' cleanup-loop \
			"$BIN" "$CLEANUP_INTERVAL"
	) </dev/null >>"$LOG/cleanup.log" 2>&1 9>&- &
	echo "$!" >"$RUN/cleanup.pid"
	STARTED+=(cleanup)
	say "cleanup: sotto cleanup now and every ${CLEANUP_INTERVAL}s (log $LOG/cleanup.log)"
}

# ---------------------------------------------------------------------------
# commands

health_code() {
	curl -ks -o /dev/null -w '%{http_code}' --max-time 2 \
		"https://127.0.0.1:$HTTPS_PORT/health" 2>/dev/null || true
}

wait_health() {
	local code="" deadline=$((SECONDS + 120))
	while ((SECONDS < deadline)); do
		code=$(health_code)
		[ "$code" = 200 ] && return 0
		running_pid sotto >/dev/null || break
		sleep 0.2
	done
	say "https://127.0.0.1:$HTTPS_PORT/health did not answer 200 (last: ${code:-none})"
	local f
	for f in sotto.log nginx-error.log redis.log pg.log; do show_log "$LOG/$f"; done
	return 1
}

# On a failed command, stop what this invocation started.
on_exit() {
	local rc=$? i
	[ "$KEEP_STARTED" = 1 ] && return 0
	[ "${#STARTED[@]}" -eq 0 ] && return 0
	say "stopping what this command started: ${STARTED[*]}"
	for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
		("stop_${STARTED[i]}") || true
	done
	return "$rc"
}

start_all() {
	start_pg
	start_redis
	start_sotto
	start_moderate
	start_nginx
}

cmd_up() {
	start_all
	wait_health || exit 1
	start_cleanup
	KEEP_STARTED=1
	say "up: https://127.0.0.1:$HTTPS_PORT/ (settings: $ENV_FILE)"
}

RUN_TAIL_PID=""
run_stop() {
	trap - INT TERM
	[ -z "$RUN_TAIL_PID" ] || kill "$RUN_TAIL_PID" 2>/dev/null || true
	echo >&2
	take_lock
	on_exit || true
	KEEP_STARTED=1
	exit 0
}

cmd_run() {
	trap run_stop INT TERM
	start_all
	wait_health || exit 1
	start_cleanup
	release_lock
	say "running: https://127.0.0.1:$HTTPS_PORT/ (settings: $ENV_FILE)"
	if [ "${#STARTED[@]}" -gt 0 ]; then
		say "Ctrl-C stops what this command started: ${STARTED[*]}"
	else
		say "everything was already running; Ctrl-C stops nothing (use stack.sh down)"
	fi
	touch "$LOG/sotto.log" "$LOG/moderate.log" "$LOG/nginx-error.log"
	tail -n 0 -F -- "$LOG/sotto.log" "$LOG/moderate.log" "$LOG/nginx-error.log" &
	RUN_TAIL_PID=$!
	local s warned=""
	while :; do
		sleep 1 &
		wait $! || true
		for s in "${STARTED[@]}"; do
			if ! running_pid "$s" >/dev/null && [[ " $warned " != *" $s "* ]]; then
				say "warning: $s is no longer running"
				warned="$warned $s"
			fi
		done
	done
}

cmd_down() {
	[ -d "$VAR" ] || { say "nothing at $VAR"; return 0; }
	stop_cleanup
	stop_nginx
	stop_moderate
	stop_sotto
	stop_redis
	stop_pg
}

cmd_status() {
	local s pid all=1 code
	for s in $SERVICES; do
		if pid=$(running_pid "$s"); then
			printf '%-6s running (pid %s)\n' "$s" "$pid"
		else
			printf '%-6s stopped\n' "$s"
			all=0
		fi
	done
	if running_pid nginx >/dev/null; then
		code=$(health_code)
		printf 'health https://127.0.0.1:%s/health -> %s\n' "$HTTPS_PORT" "${code:-no answer}"
	fi
	printf 'var    %s\nenv    %s\n' "$VAR" "$ENV_FILE"
	[ "$all" = 1 ] || exit 3
}

valid_service() {
	case ${1:-} in
	pg | redis | sotto | moderate | nginx) return 0 ;;
	*) die "unknown service '${1:-}' (pg|redis|sotto|moderate|nginx)" ;;
	esac
}

main() {
	local cmd=${1:-}
	[ -n "$cmd" ] || usage
	shift
	check_config
	case $cmd in
	run | up)
		[ $# -eq 0 ] || usage
		check_packages
		prepare_layout
		take_lock
		trap on_exit EXIT
		"cmd_$cmd"
		;;
	deps)
		[ $# -eq 0 ] || usage
		check_packages
		;;
	down)
		[ $# -eq 0 ] || usage
		[ -d "$VAR" ] || { say "nothing at $VAR"; exit 0; }
		take_lock
		cmd_down
		;;
	status)
		[ $# -eq 0 ] || usage
		cmd_status
		;;
	start)
		[ $# -eq 1 ] || usage
		valid_service "$1"
		check_packages
		prepare_layout
		take_lock
		trap on_exit EXIT
		"start_$1"
		KEEP_STARTED=1
		;;
	stop)
		[ $# -eq 1 ] || usage
		valid_service "$1"
		[ -d "$VAR" ] || exit 0
		take_lock
		"stop_$1"
		;;
	env)
		[ $# -eq 0 ] || usage
		prepare_layout
		take_lock
		write_env_file
		echo "$ENV_FILE"
		;;
	nginx-conf)
		[ $# -eq 0 ] || usage
		render_nginx_conf /dev/stdout
		;;
	-h | --help | help) usage ;;
	*) usage ;;
	esac
}

main "$@"
