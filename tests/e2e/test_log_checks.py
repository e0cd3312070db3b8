"""The teardown checks of conftest.py bite: a worker or `sotto moderate`
that crashes fails its stack's teardown (with the sanitizer's report
under a sanitized build), a worker killed through kill_worker does not,
and the log scanner knows each sanitizer's report format."""
import os
import signal

import pytest

from conftest import MAIN_SETTINGS, Stack, children_of, log_problems, pid_alive


def sanitized(pid):
    """Does process pid run with AddressSanitizer (its runtime is mapped)?"""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def wait_workers(st, master, exclude):
    want = int(MAIN_SETTINGS["SOTTO_WORKERS"])
    Stack.wait_for(lambda: len(children_of(master)) == want
                   and not set(children_of(master)) & set(exclude), 30,
                   "%d workers besides %s" % (want, sorted(exclude)))


def test_crashes_fail_the_teardown_and_kills_through_kill_worker_do_not(kill_worker):
    st = Stack("crash", MAIN_SETTINGS)
    try:
        st.up()
        master = st.sotto_pid()
        with open(os.path.join(st.var, "run", "moderate.pid")) as f:
            moderator = int(f.read())
        asan = sanitized(master)
        allowed, crashed = children_of(master)[:2]
        kill_worker(st, allowed)
        os.kill(crashed, signal.SIGSEGV)
        wait_workers(st, master, [allowed, crashed])
        os.kill(moderator, signal.SIGSEGV)
        Stack.wait_for(lambda: not pid_alive(moderator), 30, "sotto moderate to die")
    except BaseException:
        st.down()
        raise
    with pytest.raises(AssertionError) as failed:
        st.down()
    report = str(failed.value)
    assert "worker %d (slot" % crashed in report, report
    assert "worker %d (slot" % allowed not in report, report
    assert "moderate (pid %d) died" % moderator in report, report
    if asan:
        assert "log/sotto.log" in report and "log/moderate.log" in report, report
        assert "AddressSanitizer: SEGV" in report, report


@pytest.mark.parametrize("line", [
    "==123==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010",
    "==123==ERROR: LeakSanitizer: detected memory leaks",
    "app/feed.c:120:7: runtime error: signed integer overflow: 2147483647 + 1",
    "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior app/feed.c:120:7 in",
])
def test_every_sanitizer_report_format_is_found(line):
    text = '{"level":"info","msg":"started"}\n%s\nmore of the report\n' % line
    found = log_problems(text, "log/x.log")
    assert len(found) == 1 and "log/x.log:2: sanitizer report" in found[0], found


def test_unasked_worker_exits_are_found_and_expected_ones_pass():
    text = "\n".join([
        '{"level":"warn","component":"master","msg":"worker 41 (slot 0) killed by signal 11"}',
        '{"level":"warn","component":"master","msg":"worker 42 (slot 1) exited with status 1"}',
        '{"level":"warn","component":"master","msg":"worker 43 (slot 0) exited unasked"}',
        '{"level":"warn","component":"master","msg":"worker 44 (slot 1) killed by signal 9"}',
        '{"level":"info","component":"master","msg":"worker 45 (slot 1) exited with status 1"}',
    ])
    found = log_problems(text, "log/sotto.log", expected_exits={44})
    assert [f.split(": unasked worker exit")[0] for f in found] == \
        ["log/sotto.log:1", "log/sotto.log:2", "log/sotto.log:3"], found
