"""The other subcommands: `sotto migrate` is idempotent, `sotto check-config`
refuses weak secrets outside the development stack without echoing them, and
the master gives up (exit non-zero) when workers crash in a loop."""
import base64
import os
import time

from conftest import REPO, Stack, children_of, pid_alive, run_sotto
from test_shutdown import BareServer

STRONG = base64.b64encode(os.urandom(32)).decode()


def clean_env(extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOTTO_", "ADMIN_", "LISTEN_", "NOTIFY_"))
           and k not in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "IP_HMAC_KEY",
                         "CONTENT_KEYS", "CREDENTIALS_DIRECTORY")}
    env.update(extra)
    return env


def test_migrate_twice_applies_nothing_the_second_time(stack):
    env = clean_env(stack.sotto_env())
    env.pop("SOTTO_ENV_FILE", None)
    env["SOTTO_MIGRATIONS_DIR"] = os.path.join(REPO, "sql")
    first = run_sotto(["migrate"], env)
    second = run_sotto(["migrate"], env)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "nothing to do" in second.stdout + second.stderr
    assert "applied" not in second.stdout


def production_env(jwt):
    return clean_env({
        "DATABASE_URL": "postgresql:///sotto?host=/nonexistent",
        "REDIS_URL": "unix:///nonexistent/redis.sock",
        "JWT_SECRET": jwt,
        "IP_HMAC_KEY": STRONG,
        "CONTENT_KEYS": "1:" + STRONG,
    })


def test_check_config_accepts_strong_secrets():
    r = run_sotto(["check-config"], production_env(base64.b64encode(os.urandom(32)).decode()))
    assert r.returncode == 0, r.stderr


def test_check_config_refuses_a_weak_secret_without_echoing_it():
    weak = base64.b64encode(b"a" * 32).decode()
    r = run_sotto(["check-config"], production_env(weak))
    assert r.returncode != 0
    assert "JWT_SECRET" in r.stderr
    assert weak not in r.stderr + r.stdout


def test_check_config_refuses_a_missing_secret():
    env = production_env(STRONG)
    del env["JWT_SECRET"]
    r = run_sotto(["check-config"], env)
    assert r.returncode != 0 and "JWT_SECRET" in r.stderr


def test_master_stops_respawning_and_exits_nonzero_in_a_crash_loop(stack, kill_worker):
    srv = BareServer(stack)
    try:
        deadline = time.monotonic() + 20
        killed = set()
        seen = set()
        # Once the master has given up, its children are draining workers and,
        # in a sanitized build, LeakSanitizer's tracer at exit: killing that
        # one would leave the master waiting for it forever.
        while (srv.proc.poll() is None and time.monotonic() < deadline
               and "crash loop" not in srv.output()):
            kids = children_of(srv.proc.pid)
            seen.update(kids)
            for pid in kids:
                if pid not in killed:
                    killed.add(pid)
                    kill_worker(srv, pid)
            time.sleep(0.02)
        Stack.wait_for(lambda: srv.proc.poll() is not None, max(deadline - time.monotonic(), 1),
                       "master to give up after %d kills" % len(killed))
        assert srv.proc.returncode != 0
        assert len(killed) > 10
        Stack.wait_for(lambda: not any(pid_alive(p) for p in seen), 5, "no orphaned workers")
    finally:
        srv.stop()
