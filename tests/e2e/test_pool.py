"""The worker pool under load (docs/architecture.md, "Processes"): a killed worker is
replaced at once, and SIGHUP replaces every worker without dropping a request."""
import os
import signal
import time

from conftest import MAIN_SETTINGS, Load, Stack, metric_value

WORKERS = int(MAIN_SETTINGS["SOTTO_WORKERS"])
CLIENTS = 4


def wait_workers(stack, master, timeout, exclude=()):
    """Until the master has exactly WORKERS children, none of them in exclude."""
    def ok():
        kids = stack.worker_pids(master)
        return len(kids) == WORKERS and not set(kids) & set(exclude)
    Stack.wait_for(ok, timeout, "%d workers (not %s) under master %d"
                   % (WORKERS, sorted(exclude), master))
    return stack.worker_pids(master)


def test_pool_runs_the_configured_number_of_workers(stack):
    master = stack.sotto_pid()
    assert os.path.exists("/proc/%d" % master)
    wait_workers(stack, master, 5)


def test_kill_9_of_a_worker_under_load_loses_at_most_in_flight_requests(stack, kill_worker):
    master = stack.sotto_pid()
    before = wait_workers(stack, master, 5)
    victim = before[0]
    with Load(stack, "/config", threads=CLIENTS) as load:
        load.wait_requests(50)
        kill_worker(stack, victim)
        t0 = time.monotonic()
        after = wait_workers(stack, master, 2, exclude=[victim])
        respawn_s = time.monotonic() - t0
        served = load.count()
        load.wait_requests(served + 100)   # the pool keeps serving afterwards
    assert stack.sotto_pid() == master, "the master changed"
    failures = load.failures()
    print("kill -9: %d requests, failures %r, respawned in %.3fs"
          % (len(load.results), failures, respawn_s))
    assert len(failures) <= CLIENTS, "%d of %d requests failed: %r" % (
        len(failures), len(load.results), failures[:20])
    assert respawn_s < 2, respawn_s
    assert before[1] in after, "the surviving worker was replaced too"

    def alive_is_configured():
        return metric_value(stack.metrics(), "sotto_workers_alive") == WORKERS
    Stack.wait_for(alive_is_configured, 2, "sotto_workers_alive == %d" % WORKERS)


def test_sighup_under_load_replaces_every_worker_without_a_failed_request(stack):
    master = stack.sotto_pid()
    before = wait_workers(stack, master, 5)
    with Load(stack, "/config", threads=CLIENTS) as load:
        load.wait_requests(50)
        os.kill(master, signal.SIGHUP)
        after = wait_workers(stack, master, 10, exclude=before)
        served = load.count()
        load.wait_requests(served + 100)
    assert stack.sotto_pid() == master, "the master changed"
    assert not set(after) & set(before), (before, after)
    failures = load.failures()
    print("SIGHUP: %d requests, failures %r" % (len(load.results), failures))
    assert failures == [], "%d of %d requests failed during reload: %r" % (
        len(failures), len(load.results), failures[:20])
    assert len(load.results) >= 100
    text = stack.metrics()
    assert metric_value(text, "sotto_workers_alive") == WORKERS, text[:2000]


def test_repeated_sighup_leaves_exactly_the_configured_workers(stack):
    master = stack.sotto_pid()
    for _ in range(3):
        before = wait_workers(stack, master, 5)
        os.kill(master, signal.SIGHUP)
        wait_workers(stack, master, 10, exclude=before)
    assert stack.get("/health").status_code == 200
