"""`sotto moderate` (docs/moderation.md, "Automatic moderation"): the classifier process
scores every new post and reply off the request path, holds what scores at
or above SOTTO_MODERATION_THRESHOLD (gone from the feed and GET /posts/{id},
a pending mod_items row with source 2), survives PostgreSQL restarts, and
uses an external command (tests/e2e/data/classifier.py) without letting a
hanging, crashing or babbling one stall the queue. Two moderators on one
database never score a post twice, and a moderator holding a post never
deadlocks with the post's deletion (its own, or its author's account's).

Stacks of their own: the main stack runs the classifier with holding off."""
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import (DEFAULT_PASSWORD, REPO, TimeoutSession, bearer, describe, register,
                      sotto_binary)
from content import ID_RE, feed_ids, get_post, post, reply, uniq

CLASSIFIER = os.path.join(REPO, "tests", "e2e", "data", "classifier.py")
SCORE_TIMEOUT = 15          # seconds for a post to be scored in normal operation
CMD_TIMEOUT_MS = 1000       # the external command's budget per post (modcmd stack)
EXTERNAL_NORMAL = 0.123     # classifier.py's score for ordinary text

BENIGN = "I made lentil soup today and it was lovely, recipe below"
SPAM_TERMS = "Buy followers now and get cheap viagra too"
SPAM_LINKS = " ".join("https://spam%d.example/offer" % i for i in range(6))
SPAM_SHOUT = "THIS IS THE MOST AMAZING OFFER YOU WILL EVER SEE READ IT NOW"

RULES_SETTINGS = {
    "SOTTO_MODERATION_THRESHOLD": "0.8",
    "SOTTO_GUARD_MAX_LINKS": "20",      # the link rule needs posts with links
}


# -- helpers -------------------------------------------------------------------
def scan_row(st, post_id):
    """(score or None while pending) of post_id's mod_scan row; KeyError without one."""
    assert ID_RE.match(post_id)
    # A prefix: Stack.psql drops empty lines, and a NULL score prints as one.
    rows = st.psql("SELECT 's:' || coalesce(s.score::text, '') FROM mod_scan s "
                   "JOIN posts p ON p.pk = s.post_pk WHERE p.id = '%s'" % post_id)
    if not rows:
        raise KeyError(post_id)
    return float(rows[0][0][2:]) if rows[0][0] != "s:" else None


def wait_scored(st, post_id, timeout=SCORE_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        score = scan_row(st, post_id)
        if score is not None:
            return score
        time.sleep(0.05)
    raise AssertionError("post not scored within %ss\n%s" % (timeout, st.log_tails()))


def post_status(st, post_id):
    return st.number("SELECT status FROM posts WHERE id = '%s'" % post_id)


def mod_items(st, post_id):
    """[(source, status, day)] of the post's review items."""
    rows = st.psql("SELECT i.source, i.status, i.day, i.id FROM mod_items i "
                   "JOIN posts p ON p.pk = i.post_pk WHERE p.id = '%s'" % post_id)
    for r in rows:
        assert ID_RE.match(r[3]), r
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]


def assert_held(st, post_id, score, top_level=True):
    assert score >= 0.8, score
    assert post_status(st, post_id) == 1
    items = mod_items(st, post_id)
    assert len(items) == 1 and items[0][:2] == (2, 0), items
    assert get_post(st, post_id).status_code == 404
    if top_level:
        assert post_id not in feed_ids(st, sort="new", limit=50)


def assert_visible(st, post_id, score):
    assert score < 0.8, score
    assert post_status(st, post_id) == 0
    assert mod_items(st, post_id) == []
    assert get_post(st, post_id).status_code == 200


def moderate_pid(st):
    with open(os.path.join(st.var, "run", "moderate.pid")) as f:
        return int(f.read().strip())


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def read_lines(path):
    try:
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def post_retrying(st, token, body, timeout=20):
    """POST /posts until 201 (the pool may answer 503 right after a PostgreSQL restart)."""
    deadline = time.monotonic() + timeout
    while True:
        r = st.request("POST", "/posts", json={"body": body},
                       headers={"Authorization": "Bearer " + token})
        if r.status_code == 201 or time.monotonic() > deadline:
            assert r.status_code == 201, (r.status_code, r.text)
            return r.json()["post"]
        time.sleep(0.2)


# -- the built-in rules ----------------------------------------------------------
@pytest.fixture(scope="module")
def rules_stack(make_stack):
    return make_stack("modrules", **RULES_SETTINGS)


@pytest.fixture(scope="module")
def rules_token(rules_stack):
    return register(rules_stack)[1]


@pytest.mark.parametrize("body", [SPAM_TERMS, SPAM_LINKS, SPAM_SHOUT],
                         ids=["blocklisted_terms", "many_links", "shouting"])
def test_spam_is_held_with_an_auto_review_item(rules_stack, rules_token, body):
    p = post(rules_stack, rules_token, body + " " + uniq("x").upper()
             if body is SPAM_SHOUT else body + " " + uniq())
    score = wait_scored(rules_stack, p["id"])
    assert_held(rules_stack, p["id"], score)


def test_benign_post_is_scored_and_stays_visible(rules_stack, rules_token):
    p = post(rules_stack, rules_token, BENIGN + " " + uniq())
    score = wait_scored(rules_stack, p["id"])
    assert score == 0
    assert_visible(rules_stack, p["id"], score)
    assert p["id"] in feed_ids(rules_stack, sort="new", limit=50)


def test_replies_are_scored_and_held_too(rules_stack, rules_token):
    parent = post(rules_stack, rules_token, BENIGN + " " + uniq())
    ok = reply(rules_stack, rules_token, parent["id"], "Thanks, lovely " + uniq())
    bad = reply(rules_stack, rules_token, parent["id"], SPAM_TERMS + " " + uniq())
    assert_visible(rules_stack, ok["id"], wait_scored(rules_stack, ok["id"]))
    assert_held(rules_stack, bad["id"], wait_scored(rules_stack, bad["id"]), top_level=False)
    r = get_post(rules_stack, parent["id"])
    assert r.status_code == 200
    assert [x["id"] for x in r.json()["replies"]] == [ok["id"]]


def test_survives_a_postgresql_restart(rules_stack, rules_token):
    pid = moderate_pid(rules_stack)
    rules_stack.stack("stop", "pg")
    try:
        time.sleep(1.5)   # the moderator notices and backs off meanwhile
    finally:
        rules_stack.stack("start", "pg")
    p = post_retrying(rules_stack, rules_token, SPAM_TERMS + " " + uniq())
    assert_held(rules_stack, p["id"], wait_scored(rules_stack, p["id"], timeout=20))
    assert moderate_pid(rules_stack) == pid and alive(pid), "the moderator was restarted"


def test_a_post_passed_over_is_scored_on_the_next_sweep(rules_stack, rules_token):
    """The moderator takes from past the last post it took, and from the
    beginning once a second (MODERATE_SWEEP_MS): a pending row below its
    position (a post that committed after a later one was taken, or a
    rolled-back batch) is still scored: only that sweep can reach it."""
    first = post(rules_stack, rules_token, SPAM_TERMS + " " + uniq())
    assert_held(rules_stack, first["id"], wait_scored(rules_stack, first["id"]))
    later = post(rules_stack, rules_token, BENIGN + " " + uniq())
    wait_scored(rules_stack, later["id"])
    # Pending again (the sweep may score it again at any moment after this
    # commits, so the proof that it was reset is the UPDATE's own row).
    reset = rules_stack.psql("UPDATE mod_scan SET score = NULL FROM posts p "
                             "WHERE p.pk = mod_scan.post_pk AND p.id = '%s' RETURNING 'reset'"
                             % first["id"])
    assert reset == [["reset"]], reset
    assert wait_scored(rules_stack, first["id"]) >= 0.8


def test_sigterm_stops_it_cleanly_and_pending_posts_wait_for_the_next_start(
        rules_stack, rules_token):
    pid = moderate_pid(rules_stack)
    rules_stack.stack("stop", "moderate")
    assert not alive(pid)
    p = post(rules_stack, rules_token, SPAM_TERMS + " " + uniq())
    time.sleep(0.5)
    assert scan_row(rules_stack, p["id"]) is None     # nobody scores it now
    rules_stack.stack("start", "moderate")
    assert_held(rules_stack, p["id"], wait_scored(rules_stack, p["id"]))
    log = open(os.path.join(rules_stack.var, "log", "moderate.log")).read()
    assert '"msg":"stopping"' in log


# -- the external command --------------------------------------------------------
@pytest.fixture(scope="module")
def cmd_files():
    d = tempfile.mkdtemp(prefix="sotto-e2e-modcmd-")
    yield os.path.join(d, "ids"), os.path.join(d, "starts")
    for n in ("ids", "starts"):
        try:
            os.unlink(os.path.join(d, n))
        except FileNotFoundError:
            pass
    os.rmdir(d)


@pytest.fixture(scope="module")
def cmd_stack(make_stack, cmd_files):
    ids, starts = cmd_files
    return make_stack("modcmd", **RULES_SETTINGS,
                      SOTTO_MODERATION_CMD="/usr/bin/python3 %s %s %s" % (CLASSIFIER, ids, starts),
                      SOTTO_MODERATION_CMD_TIMEOUT_MS=str(CMD_TIMEOUT_MS),
                      SOTTO_MODERATION_BATCH="2")


@pytest.fixture(scope="module")
def cmd_token(cmd_stack):
    return register(cmd_stack)[1]


def test_external_score_is_used_and_can_hold(cmd_stack, cmd_token, cmd_files):
    fine = post(cmd_stack, cmd_token, BENIGN + " " + uniq())
    spam = post(cmd_stack, cmd_token, "EXT-SPAM looks harmless to the rules " + uniq())
    assert wait_scored(cmd_stack, fine["id"]) == pytest.approx(EXTERNAL_NORMAL)
    assert_visible(cmd_stack, fine["id"], scan_row(cmd_stack, fine["id"]))
    assert_held(cmd_stack, spam["id"], wait_scored(cmd_stack, spam["id"]))
    assert scan_row(cmd_stack, spam["id"]) == pytest.approx(0.97)
    # The combination is max(built-in, external): the rules still hold spam.
    rules_spam = post(cmd_stack, cmd_token, SPAM_TERMS + " " + uniq())
    assert wait_scored(cmd_stack, rules_spam["id"]) > 0.97
    assert fine["id"] in read_lines(cmd_files[0])


def test_two_moderators_never_score_a_post_twice(cmd_stack, cmd_token, cmd_files):
    ids_file = cmd_files[0]
    env = dict(cmd_stack.env)
    env_file = os.path.join(cmd_stack.var, "sotto.env")
    env.update({"SOTTO_ENV_FILE": env_file,
                "DATABASE_URL": cmd_stack.sotto_env()["DATABASE_URL"],
                "REDIS_URL": cmd_stack.sotto_env()["REDIS_URL"]})
    log_path = os.path.join(cmd_stack.var, "log", "moderate-second.log")
    with open(log_path, "ab") as log:
        second = subprocess.Popen([sotto_binary(), "moderate"], cwd=REPO, env=env,
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        time.sleep(0.5)
        before = len(read_lines(ids_file))
        posts = [post(cmd_stack, cmd_token, "%s %d %s" % (BENIGN, i, uniq())) for i in range(30)]
        for p in posts:
            assert wait_scored(cmd_stack, p["id"]) == pytest.approx(EXTERNAL_NORMAL)
        assert second.poll() is None, "the second moderator exited"
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=15) == 0
    seen = read_lines(ids_file)[before:]
    mine = [p["id"] for p in posts]
    assert sorted(seen) == sorted(mine), "each post exactly once to the command"
    assert len(set(read_lines(ids_file))) == len(read_lines(ids_file)), "an id twice"
    with open(log_path) as f:
        text = f.read()
    assert '"msg":"connected to the database"' in text
    assert not re.search(r'"level":"error"', text), text[-2000:]


def wait_external_again(st, token, timeout=15):
    """Post until one gets the external score again (the command restarted after backoff)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = post(st, token, BENIGN + " again " + uniq())
        if wait_scored(st, p["id"]) == pytest.approx(EXTERNAL_NORMAL):
            return
        time.sleep(0.3)
    raise AssertionError("the external command never came back\n%s" % st.log_tails())


@pytest.mark.parametrize("trigger", ["EXT-HANG", "EXT-CRASH", "EXT-GARBAGE", "EXT-WRONGID"])
def test_a_failing_command_falls_back_and_the_queue_keeps_flowing(
        cmd_stack, cmd_token, cmd_files, trigger):
    ids_file, starts_file = cmd_files
    wait_external_again(cmd_stack, cmd_token)
    starts = len(read_lines(starts_file))
    t0 = time.monotonic()
    bad = post(cmd_stack, cmd_token, "%s but otherwise a kind post %s" % (trigger, uniq()))
    after = post(cmd_stack, cmd_token, BENIGN + " " + uniq())
    # The built-in score (0 for this text) within the command's timeout and a margin.
    assert wait_scored(cmd_stack, bad["id"], timeout=CMD_TIMEOUT_MS / 1000 + 4) == 0
    assert time.monotonic() - t0 < CMD_TIMEOUT_MS / 1000 + 4
    assert bad["id"] in read_lines(ids_file)
    assert post_status(cmd_stack, bad["id"]) == 0
    # The next post does not wait for the broken command.
    assert wait_scored(cmd_stack, after["id"], timeout=4) is not None
    # Then a new command takes over.
    wait_external_again(cmd_stack, cmd_token)
    assert len(read_lines(starts_file)) > starts
    # No child left hanging: the moderator's only children are the current command.
    kids = open("/proc/%d/task/%d/children" % ((moderate_pid(cmd_stack),) * 2)).read().split()
    assert len(kids) <= 1, kids


# -- lock order: the moderator against deletions ---------------------------------------
DELETION_ROUNDS = 8         # each round: one post held while it is being deleted


@pytest.fixture(scope="module")
def slow_cmd_files():
    d = tempfile.mkdtemp(prefix="sotto-e2e-moddel-")
    yield os.path.join(d, "ids"), os.path.join(d, "starts")
    for n in os.listdir(d):
        os.unlink(os.path.join(d, n))
    os.rmdir(d)


@pytest.fixture(scope="module")
def slow_cmd_stack(make_stack, slow_cmd_files):
    ids, starts = slow_cmd_files
    return make_stack("moddel", **RULES_SETTINGS,
                      SOTTO_MODERATION_CMD="/usr/bin/python3 %s %s %s" % (CLASSIFIER, ids, starts),
                      SOTTO_MODERATION_CMD_TIMEOUT_MS="60000")


def lock_waiters(st):
    """Queries of the stack's database that wait for a lock."""
    return [q for (q,) in st.psql("SELECT query FROM pg_stat_activity WHERE datname = "
                                  "current_database() AND wait_event_type = 'Lock'")]



@pytest.mark.parametrize("deletion", ["post", "account"])
def test_a_post_held_while_it_is_deleted_takes_locks_in_one_order(
        slow_cmd_stack, slow_cmd_files, deletion):
    """The moderator has taken a batch (the command holds its answer until
    the test lets it go) when the post's author deletes the post, or the
    whole account: the deletion waits for a lock. Then the command answers
    a holding score and the moderator holds the post. Taken in two orders
    (the scan row, then the post; the deletion the other way round),
    PostgreSQL finds a deadlock and aborts one side; in one order the
    deletion waits for the batch, then deletes: 204 every round, no
    deadlock in PostgreSQL's log, no error in the moderator's."""
    st = slow_cmd_stack
    ids_file = slow_cmd_files[0]
    flag_dir = os.path.dirname(ids_file)
    before = st.deadlocks()
    for i in range(DELETION_ROUNDS):
        _, token = register(st)
        tag = "r%s%d" % (os.urandom(4).hex(), i)
        p = post(st, token, "EXT-WAIT-%s a post to delete %s" % (tag, uniq()))
        st.wait_for(lambda: p["id"] in read_lines(ids_file), SCORE_TIMEOUT,
                    "the moderator to take the post")
        answer = {}

        def delete():
            with TimeoutSession(timeout=60) as s:
                if deletion == "post":
                    answer["r"] = s.delete(st.url("/posts/" + p["id"]), headers=bearer(token))
                else:
                    answer["r"] = s.delete(st.url("/me"), json={"password": DEFAULT_PASSWORD},
                                           headers=bearer(token))

        t = threading.Thread(target=delete)
        t.start()
        try:
            st.wait_for(lambda: lock_waiters(st), 30, "the deletion to wait for a lock")
        finally:
            open(os.path.join(flag_dir, tag), "w").close()
        t.join(90)
        os.unlink(os.path.join(flag_dir, tag))
        assert answer["r"].status_code == 204, describe(answer["r"])
        assert st.psql("SELECT count(*) FROM posts WHERE id = '%s'" % p["id"]) == [["0"]]
    st.assert_no_deadlock_since(before)
    with open(os.path.join(st.var, "log", "moderate.log")) as f:
        assert not re.search(r'"level":"error"', f.read()), st.log_tails()


def test_a_trust_change_locks_an_authors_posts_in_the_moderators_order(stack):
    """`sotto moderate` holds the posts of a batch one by one in pk order
    (its moderate_hold statement); a decision that moves an author's trust
    re-ranks all their posts (sotto_adjust_trust). Here the moderator has
    held the author's first post when the decision starts: the re-rank must
    wait at that post without having locked the second, so that the
    moderator holds the second and commits. The first post is rewritten
    beforehand, so that its row sits after the second's in the table and in
    the author index: a re-rank in scan order locks the second post first,
    and PostgreSQL finds a deadlock and aborts one side (as it did before
    sql/037)."""
    _, token = register(stack)
    ids = [post(stack, token, "a post of a judged author %s" % uniq())["id"] for _ in range(2)]
    rows = stack.psql("SELECT pk, author_pk FROM posts WHERE id IN ('%s', '%s') ORDER BY pk"
                      % tuple(ids))
    (first, author), (second, _) = rows
    stack.psql("UPDATE posts SET rank = rank + 1 WHERE pk = %s; "
               "UPDATE posts SET rank = rank - 1 WHERE pk = %s" % (first, first))
    hold = "UPDATE posts SET status = 1 WHERE pk = %s AND status = 0"
    before = stack.deadlocks()
    url = stack.sotto_env()["DATABASE_URL"]
    decision = None
    try:
        # the moderator holds the first post; leaving the block commits (and
        # fails unless the moderator's psql exits 0)
        with stack.holding(hold % first, name="moderator") as moderator:
            decision = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url,
                                         "-c", "SELECT sotto_adjust_trust(%s, -0.01)" % author],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True)
            moderator.wait_for_waiters("sotto_adjust_trust",
                                       what="the decision to wait for the held post")
            moderator.send(hold % second)
    finally:
        decision_err = decision.communicate(timeout=60)[1] if decision else ""
    assert decision is not None and decision.returncode == 0, decision_err
    stack.assert_no_deadlock_since(before)
    assert stack.psql("SELECT count(*) FROM posts WHERE author_pk = %s AND status = 1"
                      % author) == [["2"]]
