/*
 * pool.c — `sotto serve`: the master that supervises the worker pool.
 *
 * The master serves no request. It loads the configuration, opens the
 * FastCGI unix socket (or inherits it from systemd), maps the shared-memory
 * figures, forks the workers and then sleeps in poll() on a self-pipe:
 *
 *   SIGCHLD          reap; respawn an unexpected exit (crash-loop limited)
 *   SIGHUP           reload: new configuration, a full new generation of
 *                    workers, then the old generation is told to drain
 *   SIGTERM/INT/QUIT drain every worker, SIGKILL stragglers, exit
 *
 * Signal handlers only set a flag and write a byte to the pipe; all work
 * happens in the loop (php-fpm's fpm_signals.c, kcgi's kfcgi.c). The poll
 * timeout doubles as the clock for the systemd watchdog and for escalating
 * SIGTERM to SIGKILL once shutdown_timeout_ms has passed.
 *
 * Slots: every worker owns one entry of shm->workers[] for its life. A
 * generation is at most SHM_MAX_WORKERS / 2 workers, so a reload always
 * finds room for the new generation beside the draining one; if an even
 * older generation is still draining, the reload waits for it (it dies by
 * SIGKILL within shutdown_timeout_ms at the latest).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "log.h"
#include "pool.h"
#include "shm.h"
#include "util.h"
#include "worker.h"

#define POOL_TICK_MS            1000  /* longest sleep: fork retries, respawn bound */
#define POOL_GENERATION_MAX     (SHM_MAX_WORKERS / 2)
#define POOL_CRASH_LIMIT        10    /* more than this many unexpected exits ... */
#define POOL_CRASH_WINDOW_MS    10000 /* ... within this long is a crash loop */
#define POOL_ACCEPT_WAKE_S      1     /* SO_RCVTIMEO: accept() returns this often */
#define POOL_SOCKET_MODE        0660

struct pool_slot {
	pid_t pid;                  /* 0: slot free */
	unsigned generation;
	bool retiring;              /* sent SIGTERM: never respawned */
	bool killed;                /* sent SIGKILL */
	int64_t kill_at_ms;         /* when retiring turns into SIGKILL */
};

struct pool {
	struct config cfg;          /* the configuration the newest generation runs */
	struct shm_region *shm;
	pid_t master_pid;

	int listen_fd;
	char *sock_path;            /* set when we bound the socket: unlink at exit */
	dev_t sock_dev;
	ino_t sock_ino;

	struct pool_slot slots[SHM_MAX_WORKERS];
	unsigned generation;
	int alive;                  /* worker processes not yet reaped */
	int owed_respawns;          /* unexpected exits not yet replaced */

	int64_t crash_ms[POOL_CRASH_LIMIT + 1]; /* ring of recent unexpected exits */
	uint64_t crashes;

	bool reload_pending;
	bool stopping;
	int exit_status;

	int64_t watchdog_ms;        /* ping interval, 0 = no watchdog */
	int64_t watchdog_next_ms;
};

static volatile sig_atomic_t pool_got_hup;
static volatile sig_atomic_t pool_got_stop;
static int pool_wake[2] = { -1, -1 };

static const int pool_signals[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT };

static int64_t pool_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* sd_notify() with a formatted state string; a no-op outside systemd. */
static void pool_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void pool_notify(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	(void)sd_notify(0, buf);
}

/* ---- signals -------------------------------------------------------- */

static void pool_on_signal(int sig)
{
	int saved = errno;
	ssize_t w;

	if (sig == SIGHUP)
		pool_got_hup = 1;
	else if (sig != SIGCHLD)
		pool_got_stop = 1;
	/* A full pipe already guarantees a wake-up, so a failed write is fine. */
	w = write(pool_wake[1], "", 1);
	(void)w;
	errno = saved;
}

/*
 * Create the self-pipe and install the master's handlers. SIGPIPE is
 * ignored (sd_notify and stderr may hit closed peers). Returns 0 or -1.
 */
static int pool_signals_install(void)
{
	struct sigaction sa;
	size_t i;

	if (pipe2(pool_wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		log_msg(LOG_ERROR, "self-pipe: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pool_on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(pool_signals) / sizeof(pool_signals[0]); i++)
		sigaddset(&sa.sa_mask, pool_signals[i]);
	for (i = 0; i < sizeof(pool_signals) / sizeof(pool_signals[0]); i++) {
		sa.sa_flags = SA_RESTART;
		if (pool_signals[i] == SIGCHLD)
			sa.sa_flags |= SA_NOCLDSTOP;
		if (sigaction(pool_signals[i], &sa, NULL) != 0) {
			log_msg(LOG_ERROR, "sigaction: %s", strerror(errno));
			return -1;
		}
	}
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	if (sigaction(SIGPIPE, &sa, NULL) != 0) {
		log_msg(LOG_ERROR, "sigaction: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void pool_drain_wake(void)
{
	char buf[64];

	while (read(pool_wake[0], buf, sizeof(buf)) > 0)
		;
}

/* ---- the listening socket ------------------------------------------- */

/*
 * Make way for binding path: nothing there is fine; a socket nobody listens
 * on is stale and removed; a live socket (another server) or any other kind
 * of file is left alone and is an error. Returns 0 or -1 (logged).
 */
static int pool_clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int probe, r = -1;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		log_msg(LOG_ERROR, "listen socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_msg(LOG_ERROR, "listen socket %s exists and is not a socket; "
		        "refusing to replace it", path);
		return -1;
	}
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0) {
		log_msg(LOG_ERROR, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ||
	    errno == EAGAIN || errno == EINPROGRESS) {
		/* EAGAIN: a full backlog, which means someone is listening. */
		log_msg(LOG_ERROR, "another server is listening on %s", path);
		goto out;
	}
	if (errno != ECONNREFUSED && errno != ENOENT) {
		log_msg(LOG_ERROR, "probing %s: %s", path, strerror(errno));
		goto out;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		log_msg(LOG_ERROR, "removing stale socket %s: %s", path, strerror(errno));
		goto out;
	}
	log_msg(LOG_INFO, "removed stale socket %s", path);
	r = 0;
out:
	close(probe);
	return r;
}

/*
 * Bind and listen on cfg->listen_path with mode 0660 (and group
 * cfg->socket_group when set). The umask closes the window between bind()
 * and chmod() in which the socket would have looser permissions.
 * Returns the listening fd, or -1 (logged).
 */
static int pool_bind(struct pool *p)
{
	const char *path = p->cfg.listen_path;
	struct sockaddr_un sa;
	struct stat st;
	mode_t old_mask;
	int fd = -1, r;

	if (path == NULL || path[0] == '\0') {
		log_msg(LOG_ERROR, "no listen socket: set SOTTO_LISTEN or use socket activation");
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_msg(LOG_ERROR, "listen socket path is longer than %zu bytes",
		        sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (pool_clear_stale(path, &sa) != 0)
		return -1;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_msg(LOG_ERROR, "socket: %s", strerror(errno));
		return -1;
	}
	old_mask = umask(0777 & ~POOL_SOCKET_MODE);
	r = bind(fd, (const struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (r != 0) {
		log_msg(LOG_ERROR, "bind %s: %s", path, strerror(errno));
		goto fail;
	}
	p->sock_path = strdup(path);
	if (p->sock_path == NULL || lstat(path, &st) != 0) {
		log_msg(LOG_ERROR, "listen socket %s: %s", path, strerror(errno));
		goto fail;
	}
	p->sock_dev = st.st_dev;
	p->sock_ino = st.st_ino;
	if (chmod(path, POOL_SOCKET_MODE) != 0) {
		log_msg(LOG_ERROR, "chmod %s: %s", path, strerror(errno));
		goto fail;
	}
	if (p->cfg.socket_group != NULL && p->cfg.socket_group[0] != '\0') {
		struct group gr, *found = NULL;
		char buf[4096];

		r = getgrnam_r(p->cfg.socket_group, &gr, buf, sizeof(buf), &found);
		if (found == NULL) {
			log_msg(LOG_ERROR, "socket group %s: %s", p->cfg.socket_group,
			        r != 0 ? strerror(r) : "no such group");
			goto fail;
		}
		if (chown(path, (uid_t)-1, gr.gr_gid) != 0) {
			log_msg(LOG_ERROR, "chown %s to group %s: %s", path,
			        p->cfg.socket_group, strerror(errno));
			goto fail;
		}
	}
	/* A deep backlog rides out a reload: connections wait, none is refused. */
	if (listen(fd, SOMAXCONN) != 0) {
		log_msg(LOG_ERROR, "listen %s: %s", path, strerror(errno));
		goto fail;
	}
	log_msg(LOG_INFO, "listening on %s", path);
	return fd;
fail:
	if (p->sock_path != NULL) {
		(void)unlink(p->sock_path);
		free(p->sock_path);
		p->sock_path = NULL;
	}
	close(fd);
	return -1;
}

/*
 * Take the socket systemd passed (LISTEN_FDS, exactly one listening unix
 * stream socket; its path, mode and owner are the socket unit's business)
 * or bind our own. Either way the fd is made blocking with a receive
 * timeout, so a worker blocked in accept() wakes up every
 * POOL_ACCEPT_WAKE_S seconds and cannot miss a stop request that raced
 * with entering accept(). (Linux does not copy the timeout onto accepted
 * unix connections.) Returns 0 or -1 (logged).
 */
static int pool_listen(struct pool *p)
{
	struct timeval tv = { .tv_sec = POOL_ACCEPT_WAKE_S, .tv_usec = 0 };
	int n, fd, flags;

	n = sd_listen_fds(1);
	if (n < 0) {
		log_msg(LOG_ERROR, "socket activation: %s", strerror(-n));
		return -1;
	}
	if (n > 1) {
		log_msg(LOG_ERROR, "socket activation passed %d sockets; expected one", n);
		return -1;
	}
	if (n == 1) {
		fd = SD_LISTEN_FDS_START;
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
			log_msg(LOG_ERROR, "the socket passed by systemd is not a "
			        "listening unix stream socket");
			return -1;
		}
		log_msg(LOG_INFO, "listening on the socket passed by systemd");
	} else {
		fd = pool_bind(p);
		if (fd < 0)
			return -1;
	}
	p->listen_fd = fd;

	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || ((flags & O_NONBLOCK) &&
	                  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0)) {
		log_msg(LOG_ERROR, "listen socket flags: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
		log_msg(LOG_ERROR, "SO_RCVTIMEO: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Remove the socket file if we created it and it is still ours. */
static void pool_unlink_socket(struct pool *p)
{
	struct stat st;

	if (p->sock_path == NULL)
		return;
	if (lstat(p->sock_path, &st) == 0 && st.st_dev == p->sock_dev &&
	    st.st_ino == p->sock_ino)
		(void)unlink(p->sock_path);
	free(p->sock_path);
	p->sock_path = NULL;
}

/* ---- workers ---------------------------------------------------------- */

/*
 * In the child, straight after fork (all signals still blocked): default
 * dispositions for every signal, SIGPIPE ignored, the master's pipe closed,
 * death of the master delivering SIGTERM, an empty mask. Then the worker.
 * Never returns.
 */
static void pool_child(struct pool *p, int slot) __attribute__((noreturn));
static void pool_child(struct pool *p, int slot)
{
	struct sigaction sa;
	sigset_t none;
	int sig, rc;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL); /* EINVAL for KILL/STOP: fine */
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	close(pool_wake[0]);
	close(pool_wake[1]);
	pool_wake[0] = pool_wake[1] = -1;

	/* The check after prctl catches a master that died before it. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != p->master_pid)
		_exit(1);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);

	/* Only the master talks to systemd. */
	(void)unsetenv("NOTIFY_SOCKET");
	(void)unsetenv("WATCHDOG_PID");
	(void)unsetenv("WATCHDOG_USEC");

	log_set_component("worker");
	atomic_store_explicit(&p->shm->workers[slot].pid, getpid(),
	                      memory_order_relaxed);
	rc = worker_main(&p->cfg, p->shm, slot, p->listen_fd);
	fflush(NULL);
	/* _exit: the master's atexit handlers and stdio buffers are not ours. */
	_exit(rc & 0xff);
}

/*
 * Fork one worker of the current generation into a free slot. Signals
 * are blocked across fork so no master handler ever runs in the child.
 * Returns 0, or -1 when fork fails (logged; the caller retries later).
 */
static int pool_spawn(struct pool *p, int slot)
{
	struct shm_worker *w = &p->shm->workers[slot];
	sigset_t all, old;
	pid_t pid;

	atomic_store_explicit(&w->requests, 0, memory_order_relaxed);
	atomic_store_explicit(&w->busy, 0, memory_order_relaxed);
	atomic_store_explicit(&w->ipban_loaded, -1, memory_order_relaxed);
	/* Not its predecessor's heap: zero until its first request publishes its own. */
	atomic_store_explicit(&w->heap_used, 0, memory_order_relaxed);
	atomic_store_explicit(&w->heap_free, 0, memory_order_relaxed);
	sigfillset(&all);
	(void)sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0)
		pool_child(p, slot);
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		log_msg(LOG_ERROR, "fork: %s", strerror(errno));
		return -1;
	}
	p->slots[slot] = (struct pool_slot){ .pid = pid, .generation = p->generation };
	atomic_store_explicit(&w->pid, pid, memory_order_relaxed);
	p->alive++;
	atomic_store_explicit(&p->shm->workers_alive, p->alive, memory_order_relaxed);
	return 0;
}

/* Workers of the current generation that are not draining. */
static int pool_current(const struct pool *p)
{
	int i, n = 0;

	for (i = 0; i < SHM_MAX_WORKERS; i++)
		if (p->slots[i].pid != 0 && !p->slots[i].retiring &&
		    p->slots[i].generation == p->generation)
			n++;
	return n;
}

/*
 * Bring the current generation up to cfg.workers, using the lowest free
 * slots. An unexpected exit reaped earlier is counted as a restart when
 * its replacement starts.
 */
static void pool_fill(struct pool *p)
{
	int slot, have = pool_current(p);

	for (slot = 0; slot < SHM_MAX_WORKERS && have < p->cfg.workers; slot++) {
		if (p->slots[slot].pid != 0)
			continue;
		if (pool_spawn(p, slot) != 0)
			break;
		have++;
		if (p->owed_respawns > 0) {
			p->owed_respawns--;
			atomic_fetch_add_explicit(&p->shm->worker_restarts, 1,
			                          memory_order_relaxed);
		}
	}
}

/* Ask one worker to finish its request and exit; SIGKILL follows at the deadline. */
static void pool_retire_slot(struct pool *p, struct pool_slot *s, int64_t now)
{
	if (s->pid == 0 || s->retiring)
		return;
	s->retiring = true;
	s->kill_at_ms = now + (p->cfg.shutdown_timeout_ms > 0 ?
	                       p->cfg.shutdown_timeout_ms : 0);
	if (kill(s->pid, SIGTERM) != 0 && errno != ESRCH)
		log_msg(LOG_WARN, "SIGTERM to worker %d: %s", (int)s->pid, strerror(errno));
}

/*
 * Once the current generation is complete, retire every older worker: the
 * shared socket lets the new generation accept while the old one drains.
 */
static void pool_retire_old(struct pool *p, int64_t now)
{
	int i;

	if (pool_current(p) < p->cfg.workers)
		return;
	for (i = 0; i < SHM_MAX_WORKERS; i++)
		if (p->slots[i].generation != p->generation)
			pool_retire_slot(p, &p->slots[i], now);
}

/* SIGKILL every draining worker past its deadline. */
static void pool_escalate(struct pool *p, int64_t now)
{
	int i;

	for (i = 0; i < SHM_MAX_WORKERS; i++) {
		struct pool_slot *s = &p->slots[i];

		if (s->pid == 0 || !s->retiring || s->killed || now < s->kill_at_ms)
			continue;
		log_msg(LOG_WARN, "worker %d did not drain within %d ms; killing it",
		        (int)s->pid, p->cfg.shutdown_timeout_ms);
		s->killed = true;
		if (kill(s->pid, SIGKILL) != 0 && errno != ESRCH)
			log_msg(LOG_WARN, "SIGKILL to worker %d: %s", (int)s->pid,
			        strerror(errno));
	}
}

/* Start draining the whole pool; the loop ends when the last worker is reaped. */
static void pool_begin_stop(struct pool *p, int64_t now)
{
	int i;

	if (p->stopping)
		return;
	p->stopping = true;
	pool_notify("STOPPING=1\nSTATUS=Draining %d workers", p->alive);
	log_msg(LOG_INFO, "stopping: draining %d workers", p->alive);
	for (i = 0; i < SHM_MAX_WORKERS; i++)
		pool_retire_slot(p, &p->slots[i], now);
}

/*
 * Note one unexpected worker exit at now. Returns true when there were more
 * than POOL_CRASH_LIMIT of them within POOL_CRASH_WINDOW_MS.
 */
static bool pool_crash_loop(struct pool *p, int64_t now)
{
	const size_t n = POOL_CRASH_LIMIT + 1;

	p->crash_ms[p->crashes % n] = now;
	p->crashes++;
	/* The slot written next holds the (LIMIT+1)-th most recent exit. */
	return p->crashes >= n && now - p->crash_ms[p->crashes % n] <= POOL_CRASH_WINDOW_MS;
}

/*
 * Reap every exited worker. An exit nobody asked for (the worker was not
 * retiring and the pool is not stopping) is logged, owed a respawn and
 * counted towards the crash-loop limit; past the limit the pool stops
 * respawning and drains with exit status 1.
 */
static void pool_reap(struct pool *p, int64_t now)
{
	pid_t pid;
	int st, i;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		struct pool_slot *s = NULL;
		bool expected;

		for (i = 0; i < SHM_MAX_WORKERS; i++)
			if (p->slots[i].pid == pid) {
				s = &p->slots[i];
				break;
			}
		if (s == NULL)
			continue;
		expected = s->retiring || p->stopping;
		if (WIFSIGNALED(st) && !(s->killed && WTERMSIG(st) == SIGKILL) &&
		    !(expected && WTERMSIG(st) == SIGTERM))
			log_msg(expected ? LOG_INFO : LOG_WARN,
			        "worker %d (slot %d) killed by signal %d",
			        (int)pid, i, WTERMSIG(st));
		else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
			log_msg(expected ? LOG_INFO : LOG_WARN,
			        "worker %d (slot %d) exited with status %d",
			        (int)pid, i, WEXITSTATUS(st));
		else if (!expected)
			log_msg(LOG_WARN, "worker %d (slot %d) exited unasked", (int)pid, i);

		*s = (struct pool_slot){ 0 };
		shm_worker_gone(p->shm, i);
		p->alive--;
		atomic_store_explicit(&p->shm->workers_alive, p->alive,
		                      memory_order_relaxed);
		if (expected)
			continue;
		/* Workers only exit when told to, so any other exit is a crash. */
		p->owed_respawns++;
		if (pool_crash_loop(p, now)) {
			log_msg(LOG_ERROR, "crash loop: more than %d worker exits within "
			        "%d s; no more respawns, shutting down",
			        POOL_CRASH_LIMIT, POOL_CRASH_WINDOW_MS / 1000);
			p->exit_status = 1;
			pool_notify("STATUS=Workers are crash-looping");
			pool_begin_stop(p, now);
		}
	}
}

/* Keep the generation inside the shared-memory capacity reserved for it. */
static void pool_clamp_workers(struct config *cfg)
{
	if (cfg->workers > POOL_GENERATION_MAX) {
		log_msg(LOG_WARN, "SOTTO_WORKERS=%d is above the limit; using %d",
		        cfg->workers, POOL_GENERATION_MAX);
		cfg->workers = POOL_GENERATION_MAX;
	}
	if (cfg->workers < 1)
		cfg->workers = 1;
}

static bool pool_str_differs(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") != 0;
}

/*
 * SIGHUP: load the configuration again. On failure keep the running
 * configuration and workers. On success start a new generation with it;
 * pool_retire_old() then drains the old one. Leaves p->reload_pending set
 * while fewer than a generation's worth of slots are free (older
 * generations still draining), so the loop retries.
 */
static void pool_reload(struct pool *p)
{
	struct config next;
	struct timespec ts;
	char err[256];

	if (SHM_MAX_WORKERS - p->alive < POOL_GENERATION_MAX)
		return;
	p->reload_pending = false;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	pool_notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading",
	            (unsigned long long)ts.tv_sec * 1000000ULL +
	            (unsigned long long)ts.tv_nsec / 1000ULL);
	memset(&next, 0, sizeof(next));
	err[0] = '\0';
	if (config_load(&next, err, sizeof(err)) != 0) {
		log_msg(LOG_ERROR, "reload: configuration rejected, keeping the "
		        "running one: %s", err);
		config_free(&next);
		goto ready;
	}
	pool_clamp_workers(&next);
	if (pool_str_differs(next.listen_path, p->cfg.listen_path) ||
	    pool_str_differs(next.socket_group, p->cfg.socket_group))
		log_msg(LOG_WARN, "reload: a new listen socket or socket group "
		        "takes effect only after a restart");
	config_free(&p->cfg);
	p->cfg = next;
	p->generation++;
	p->owed_respawns = 0;       /* the new generation replaces every worker */
	atomic_store_explicit(&p->shm->workers_configured, p->cfg.workers,
	                      memory_order_relaxed);
	atomic_fetch_add_explicit(&p->shm->reloads, 1, memory_order_relaxed);
	pool_fill(p);
	log_msg(LOG_INFO, "reload: generation %u with %d workers",
	        p->generation, p->cfg.workers);
ready:
	pool_notify("READY=1\nSTATUS=Serving with %d workers", p->cfg.workers);
}

/* Ping the systemd watchdog when due. */
static void pool_watchdog(struct pool *p, int64_t now)
{
	if (p->watchdog_ms <= 0 || now < p->watchdog_next_ms)
		return;
	(void)sd_notify(0, "WATCHDOG=1");
	p->watchdog_next_ms = now + p->watchdog_ms;
}

/* How long poll() may sleep: the tick, the watchdog, the nearest SIGKILL. */
static int pool_timeout(const struct pool *p, int64_t now)
{
	int64_t t = POOL_TICK_MS;
	int i;

	if (p->watchdog_ms > 0 && p->watchdog_next_ms - now < t)
		t = p->watchdog_next_ms - now;
	for (i = 0; i < SHM_MAX_WORKERS; i++) {
		const struct pool_slot *s = &p->slots[i];

		if (s->pid != 0 && s->retiring && !s->killed && s->kill_at_ms - now < t)
			t = s->kill_at_ms - now;
	}
	return t < 0 ? 0 : (int)t;
}

/* The supervision loop; returns when stopping and every worker is reaped. */
static void pool_loop(struct pool *p)
{
	struct pollfd pfd = { .fd = pool_wake[0], .events = POLLIN };
	int64_t now;

	for (;;) {
		now = pool_now_ms();
		if (poll(&pfd, 1, pool_timeout(p, now)) < 0 && errno != EINTR) {
			log_msg(LOG_ERROR, "poll: %s", strerror(errno));
			(void)usleep(100 * 1000);
		}
		pool_drain_wake();
		now = pool_now_ms();

		/* Flags are cleared before acting, so a signal during the work
		 * leaves its byte in the pipe and brings us back. */
		pool_reap(p, now);
		if (pool_got_stop) {
			pool_got_stop = 0;
			pool_begin_stop(p, now);
		}
		if (pool_got_hup) {
			pool_got_hup = 0;
			p->reload_pending = true;
		}
		if (!p->stopping) {
			if (p->reload_pending)
				pool_reload(p);
			pool_fill(p);
			pool_retire_old(p, now);
		}
		pool_escalate(p, now);
		pool_watchdog(p, now);
		if (p->stopping && p->alive == 0)
			return;
	}
}

int pool_run(void)
{
	static struct pool pool;    /* ~10 KiB of slots: not on the stack */
	struct pool *p = &pool;
	char err[256];
	uint64_t usec = 0;

	memset(p, 0, sizeof(*p));
	p->listen_fd = -1;
	p->exit_status = 1;
	p->master_pid = getpid();
	log_set_component("master");
	/* Workers and the master's configuration hold key material; inherited across fork. */
	util_no_core_dumps();

	err[0] = '\0';
	if (config_load(&p->cfg, err, sizeof(err)) != 0) {
		log_msg(LOG_ERROR, "configuration: %s", err);
		goto out;
	}
	pool_clamp_workers(&p->cfg);
	if (pool_signals_install() != 0 || pool_listen(p) != 0)
		goto out;
	p->shm = shm_create();
	if (p->shm == NULL) {
		log_msg(LOG_ERROR, "shared memory: %s", strerror(errno));
		goto out;
	}
	atomic_store_explicit(&p->shm->workers_configured, p->cfg.workers,
	                      memory_order_relaxed);
	if (sd_watchdog_enabled(1, &usec) > 0 && usec > 0) {
		/* Half the interval leaves room for one late wake-up. */
		p->watchdog_ms = (int64_t)(usec / 2000);
		if (p->watchdog_ms < 1)
			p->watchdog_ms = 1;
	}

	p->exit_status = 0;
	pool_fill(p);
	pool_notify("READY=1\nSTATUS=Serving with %d workers", p->cfg.workers);
	log_msg(LOG_INFO, "serving with %d workers", p->cfg.workers);
	pool_loop(p);
	log_msg(LOG_INFO, "stopped");
out:
	pool_unlink_socket(p);
	if (p->listen_fd >= 0)
		close(p->listen_fd);
	shm_destroy(p->shm);
	config_free(&p->cfg);
	if (pool_wake[0] >= 0) {
		close(pool_wake[0]);
		close(pool_wake[1]);
		pool_wake[0] = pool_wake[1] = -1;
	}
	return p->exit_status;
}
