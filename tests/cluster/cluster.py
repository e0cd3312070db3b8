#!/usr/bin/python3
"""sotto's several-host topology on one machine, in network namespaces.

    cluster.py up      build it and start everything (prints where it is)
    cluster.py down    stop everything it started (by PID) and remove it
    cluster.py check [pytest args]
                       up, the scenarios of tests/cluster/ run from the
                       client's namespace, down (whatever happened)
    cluster.py bench   up, tests/cluster/bench.py, down

Topology (docs/scaling.md): two networks, each a bridge in a namespace of its
own ("sotc<N>-sw"), reachable only from the namespaces plugged into them:

    app  10.77.2N.0/24    front (HAProxy), app1 and app2 (nginx + sotto serve +
                          sotto moderate), pg1-3 (clients' side), redis1 and
                          redis2 (master and replica, one Sentinel each), rt
                          (nchan's Redis and the third Sentinel), client
    data 10.77.2N+1.0/24  pg1-3 (replication, Patroni's REST API) and dcs (etcd)

N is the run's slot: several runs may share the machine (two CI runs from two
clones), each with its own slot, claimed by creating its switch namespace
(`ip netns add` refuses a name that exists), and its own directory. Every
namespace, bridge, veth and address of a run carries its slot, so a run
touches nothing of another; its veths are created inside its namespaces, so
it names no interface of the host's. A lone `up` usually gets slot 0:
10.77.0.0/24 and 10.77.1.0/24.

PostgreSQL runs under Patroni with synchronous_mode_strict; sotto reaches it
through libpq's host list (target_session_attrs=read-write; its lag-tolerant
reads prefer-standby, DATABASE_READ_URL), Redis through the
Sentinels. Every process is started in its node's namespace and recorded with
its PID in $SOTTO_CLUSTER_DIR/state.json (with the slot); `down` kills those
PIDs (and any process left in one of the run's namespaces: PostgreSQL's
children), then deletes the run's namespaces. Nothing listens outside them.
`up` and `down` use $SOTTO_CLUSTER_DIR (default /tmp/sotto-cluster); `check`
and `bench` a new directory of their own unless it is set.

Must run as root (namespaces, veth). Debian 12 packages: scripts/packages-cluster.txt.
"""
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_DIR = "/tmp/sotto-cluster"
BIN = os.environ.get("SOTTO_BIN", os.path.join(REPO, "sotto"))
PG_BIN = "/usr/lib/postgresql/15/bin"
SLOTS = 64                    # runs at once; slot N takes 10.77.2N.0/24 and 10.77.2N+1.0/24
HTTPS_PORT = 8443
HTTP_PORT = 8080
WORKERS = int(os.environ.get("SOTTO_CLUSTER_WORKERS", "3"))
READ_MAX_LAG_MS = 500

# node -> {network: last octet of its address}
HOSTS = {
    "front": {"app": 2},
    "app1": {"app": 11},
    "app2": {"app": 12},
    "pg1": {"app": 21, "data": 21},
    "pg2": {"app": 22, "data": 22},
    "pg3": {"app": 23, "data": 23},
    "dcs": {"data": 5},
    "redis1": {"app": 31},
    "redis2": {"app": 32},
    "rt": {"app": 33},
    "client": {"app": 100},
}
PG_NODES = ("pg1", "pg2", "pg3")
APP_HOSTS = ("app1", "app2")
SENTINELS = ("redis1", "redis2", "rt")
SENTINEL_PORT = 26379
MASTER_NAME = "sotto"
REDIS_USER = "sotto"          # the ACL user of sotto's Redis servers


def use_dir(path):
    """Keep this run's files (state, logs, data) under path."""
    global DIR, STATE
    DIR = path
    STATE = os.path.join(DIR, "state.json")


def use_slot(slot):
    """Name and address everything after slot (see the top of this file):
    PREFIX, SWITCH, SUBNETS, NODES (node -> {network: address}), and the
    DATABASE_URL, DATABASE_READ_URL and REDIS_SENTINELS sotto is given."""
    global SLOT, PREFIX, SWITCH, SUBNETS, NODES, DATABASE_URL, DATABASE_READ_URL, REDIS_SENTINELS
    SLOT = slot
    PREFIX = "sotc%d-" % slot
    SWITCH = PREFIX + "sw"
    SUBNETS = {"app": "10.77.%d" % (2 * slot), "data": "10.77.%d" % (2 * slot + 1)}
    NODES = {node: {net: "%s.%d" % (SUBNETS[net], host) for net, host in nets.items()}
             for node, nets in HOSTS.items()}
    DATABASE_URL = ("postgresql://%s/sotto?user=postgres&target_session_attrs=read-write"
                    "&connect_timeout=2" % ",".join("%s:5432" % NODES[n]["app"]
                                                    for n in PG_NODES))
    # lag-tolerant reads: a standby when there is one, else whoever answers
    DATABASE_READ_URL = DATABASE_URL.replace("target_session_attrs=read-write",
                                             "target_session_attrs=prefer-standby")
    REDIS_SENTINELS = ",".join("%s:%d" % (NODES[n]["app"], SENTINEL_PORT) for n in SENTINELS)


def ns(node):
    return PREFIX + node


def say(msg):
    print("cluster: %s" % msg, file=sys.stderr, flush=True)


def run(argv, check=True, **kw):
    return subprocess.run(argv, check=check, stdin=subprocess.DEVNULL, **kw)


def in_ns(node, argv, check=True, timeout=60, **kw):
    """Run argv in node's namespace and wait; CompletedProcess (text output)."""
    return run(["ip", "netns", "exec", ns(node)] + argv, check=check, timeout=timeout,
               capture_output=True, text=True, **kw)


# -- state -------------------------------------------------------------------
def load_state():
    try:
        with open(STATE) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"procs": {}, "secrets": {}, "slot": None}


use_dir(os.environ.get("SOTTO_CLUSTER_DIR", DEFAULT_DIR))
use_slot(load_state().get("slot") or 0)   # a run's tests and its `down` find its slot there


def figures_path():
    """Where the scenarios write their measured figures (conftest.py)."""
    return os.environ.get("SOTTO_CLUSTER_FIGURES") or os.path.join(DIR, "figures.json")


def save_state(state):
    tmp = STATE + ".new"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, STATE)


def spawn(state, key, node, argv, user=None, env=None, cwd=None):
    """Start argv in node's namespace (as user), detached, logging to DIR/log/key.log;
    record its PID under key. The PID is the program's own: `ip netns exec` and
    setpriv both exec."""
    os.makedirs(os.path.join(DIR, "log"), exist_ok=True)
    prefix = ["ip", "netns", "exec", ns(node)]
    if user:
        prefix += ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups"]
    log = open(os.path.join(DIR, "log", key + ".log"), "ab")
    p = subprocess.Popen(prefix + argv, stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True, env=env,
                         cwd=cwd or DIR)
    log.close()
    state["procs"][key] = {"pid": p.pid, "node": node, "argv": argv, "user": user,
                           "env": env, "cwd": cwd}
    save_state(state)
    return p.pid


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def ns_pids(node):
    r = run(["ip", "netns", "pids", ns(node)], check=False, capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_for(cond, timeout, what, interval=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 -- retried until the deadline
            last = e
        time.sleep(interval)
    raise TimeoutError("timed out after %ds waiting for %s (last error: %r)" % (timeout, what, last))


# -- networks ------------------------------------------------------------------
def claim_slot(state):
    """The first free slot, claimed by creating its switch namespace (which
    `ip netns add` refuses when another run holds it) and recorded in state."""
    for slot in range(SLOTS):
        name = "sotc%d-sw" % slot
        r = run(["ip", "netns", "add", name], check=False, capture_output=True, text=True)
        if r.returncode == 0:
            use_slot(slot)
            state["slot"] = slot
            save_state(state)
            return
        if not os.path.exists(os.path.join("/run/netns", name)):
            raise RuntimeError("ip netns add %s: %s" % (name, r.stderr.strip()))
    sys.exit("cluster: all %d slots are taken (ip netns list: sotc<N>-sw)" % SLOTS)


def netns_up():
    """The run's bridges in its switch namespace (claimed already) and every
    node's namespace; each veth is made inside the switch namespace with its
    other end created directly in the node's, so no name exists in the host's."""
    for net in ("app", "data"):
        run(["ip", "-n", SWITCH, "link", "add", "br-" + net, "type", "bridge"])
        run(["ip", "-n", SWITCH, "link", "set", "br-" + net, "up"])
    for i, (node, nets) in enumerate(NODES.items()):
        run(["ip", "netns", "add", ns(node)])
        run(["ip", "-n", ns(node), "link", "set", "lo", "up"])
        for net, addr in nets.items():
            port = "p%d%s" % (i, net[0])
            run(["ip", "-n", SWITCH, "link", "add", port, "type", "veth",
                 "peer", "name", "eth-" + net, "netns", ns(node)])
            run(["ip", "-n", ns(node), "addr", "add", addr + "/24", "dev", "eth-" + net])
            run(["ip", "-n", ns(node), "link", "set", "eth-" + net, "up"])
            run(["ip", "-n", SWITCH, "link", "set", port, "master", "br-" + net])
            run(["ip", "-n", SWITCH, "link", "set", port, "up"])


def netns_down():
    """Delete this run's namespaces (their veths and bridges go with them),
    the switch's last: until then the slot stays claimed."""
    r = run(["ip", "netns", "list"], capture_output=True, text=True)
    names = [line.split()[0] for line in r.stdout.splitlines() if line.split()]
    for name in sorted((n for n in names if n.startswith(PREFIX)), key=lambda n: n == SWITCH):
        run(["ip", "netns", "del", name], check=False)


def link(node, net, up):
    """Bring node's link to net up or down (a cut cable)."""
    run(["ip", "-n", ns(node), "link", "set", "eth-" + net, "up" if up else "down"])


# -- PostgreSQL under Patroni --------------------------------------------------
def patroni_config(node):
    d = os.path.join(DIR, node)
    app_ip, data_ip = NODES[node]["app"], NODES[node]["data"]
    return {
        "scope": "sotto",
        "name": node,
        "restapi": {"listen": data_ip + ":8008", "connect_address": data_ip + ":8008"},
        "etcd": {"host": NODES["dcs"]["data"] + ":2379"},
        "bootstrap": {
            "dcs": {
                # Failure detection: the leader key lives ttl seconds; a
                # standby takes over within ttl + loop_wait of the primary's
                # last renewal.
                "ttl": 10, "loop_wait": 1, "retry_timeout": 3,
                "maximum_lag_on_failover": 16 * 1024 * 1024,
                "synchronous_mode": True, "synchronous_mode_strict": True,
                "postgresql": {
                    "use_pg_rewind": True,
                    "parameters": {
                        "wal_level": "replica", "hot_standby": "on",
                        "wal_log_hints": "on", "max_wal_senders": 10,
                        "max_replication_slots": 10, "wal_keep_size": "256MB",
                        "max_connections": 200, "shared_buffers": "32MB",
                        # Process kills lose no page cache; this harness
                        # saves the machine's disk, production keeps fsync.
                        "fsync": "off",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C"}],
            "pg_hba": [
                "local all all trust",
                "host replication replicator %s.0/24 trust" % SUBNETS["data"],
                "host all all %s.0/24 trust" % SUBNETS["app"],
                "host all all %s.0/24 trust" % SUBNETS["data"],
            ],
        },
        "postgresql": {
            "listen": "%s,%s:5432" % (app_ip, data_ip),
            "connect_address": data_ip + ":5432",
            "data_dir": os.path.join(d, "data"),
            "bin_dir": PG_BIN,
            "pgpass": os.path.join(d, "pgpass"),
            "authentication": {
                "superuser": {"username": "postgres", "password": "harness"},
                "replication": {"username": "replicator", "password": "harness"},
                "rewind": {"username": "postgres", "password": "harness"},
            },
            "parameters": {"unix_socket_directories": d},
        },
    }


def start_patroni(state, node):
    d = os.path.join(DIR, node)
    conf = os.path.join(d, "patroni.yml")
    spawn(state, "patroni-" + node, node, ["/usr/bin/patroni", conf], user="postgres",
          env={"PATH": "/usr/bin:/bin", "HOME": d, "LC_ALL": "C.UTF-8"}, cwd=d)


def setup_pg(state):
    for node in PG_NODES:
        d = os.path.join(DIR, node)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "patroni.yml"), "w") as f:
            json.dump(patroni_config(node), f, indent=1)   # JSON is YAML
        shutil.chown(d, "postgres", "postgres")
        os.chmod(d, 0o700)
    d = os.path.join(DIR, "dcs")
    os.makedirs(d, exist_ok=True)
    ip = NODES["dcs"]["data"]
    spawn(state, "etcd", "dcs", ["/usr/bin/etcd", "--name", "dcs", "--data-dir", d + "/etcd",
                                 "--listen-client-urls", "http://%s:2379" % ip,
                                 "--advertise-client-urls", "http://%s:2379" % ip,
                                 "--listen-peer-urls", "http://%s:2380" % ip,
                                 "--enable-v2=true"])
    wait_for(lambda: in_ns("dcs", ["curl", "-sf", "http://%s:2379/version" % ip],
                           check=False).returncode == 0, 60, "etcd")
    for node in PG_NODES:
        start_patroni(state, node)
    wait_for(lambda: pg_leader() is not None and sync_standby() is not None, 180,
             "a Patroni leader with a synchronous standby")
    leader = pg_leader()
    in_ns(leader, ["psql", "-X", "-q", "-h", NODES[leader]["app"], "-U", "postgres", "-c",
                   "CREATE DATABASE sotto"])


def patroni_cluster():
    """Patroni's view of the cluster (GET /cluster from a node that answers), or None."""
    for node in PG_NODES:
        r = in_ns("dcs", ["curl", "-sf", "-m", "2", "http://%s:8008/cluster"
                          % NODES[node]["data"]], check=False)
        if r.returncode == 0:
            return json.loads(r.stdout)
    return None


def members_with_role(*roles):
    c = patroni_cluster()
    if c is None:
        return []
    return [m["name"] for m in c.get("members", []) if m.get("role") in roles and
            m.get("state") in ("running", "streaming")]


def pg_leader():
    m = members_with_role("leader", "master")
    return m[0] if m else None


def sync_standby():
    m = members_with_role("sync_standby")
    return m[0] if m else None


def kill_node(state, node):
    """kill -9 of every process of node (a machine losing power); returns once
    they are all gone (their sockets closed)."""
    pids = ns_pids(node)
    for pid in pids:
        kill_pid(pid)
    for key, p in state["procs"].items():
        if p["node"] == node:
            reap(p["pid"])
    wait_for(lambda: not any(pid_alive(pid) for pid in pids), 30, "the processes of " + node,
             interval=0.01)


def restart_key(state, key):
    p = state["procs"][key]
    spawn(state, key, p["node"], p["argv"], user=p["user"], env=p["env"], cwd=p["cwd"])


# -- Redis and Sentinel --------------------------------------------------------
def write_private(path, text):
    """A file only its owner may read (it holds a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def setup_redis(state):
    pw = state["secrets"]["redis"]
    for node in ("redis1", "redis2", "rt"):
        d = os.path.join(DIR, node)
        os.makedirs(d, exist_ok=True)
        ip = NODES[node]["app"]
        conf = ["port 6379", "bind %s" % ip, "protected-mode no", "dir %s" % d,
                "save \"\"", "appendonly no"]
        if node != "rt":
            # sotto's Redis takes only the ACL user, as the development stack's does;
            # the replica and the Sentinels log in as it too. (rt is nchan's own.)
            conf += ["user default off", "user %s on >%s ~* &* +@all" % (REDIS_USER, pw),
                     "masteruser %s" % REDIS_USER, "masterauth %s" % pw]
        if node == "redis2":
            conf.append("replicaof %s 6379" % NODES["redis1"]["app"])
        write_private(os.path.join(d, "redis.conf"), "\n".join(conf) + "\n")
        spawn(state, "redis-" + node, node, ["/usr/bin/redis-server", os.path.join(d, "redis.conf")])
    for node in SENTINELS:
        d = os.path.join(DIR, node)
        ip = NODES[node]["app"]
        write_private(os.path.join(d, "sentinel.conf"), "\n".join([
            "port %d" % SENTINEL_PORT, "bind %s" % ip, "protected-mode no", "dir %s" % d,
            "sentinel monitor %s %s 6379 2" % (MASTER_NAME, NODES["redis1"]["app"]),
            "sentinel auth-user %s %s" % (MASTER_NAME, REDIS_USER),
            "sentinel auth-pass %s %s" % (MASTER_NAME, pw),
            "sentinel down-after-milliseconds %s 1000" % MASTER_NAME,
            "sentinel failover-timeout %s 10000" % MASTER_NAME,
            "sentinel parallel-syncs %s 1" % MASTER_NAME]) + "\n")
        spawn(state, "sentinel-" + node, node, ["/usr/bin/redis-sentinel",
                                                os.path.join(d, "sentinel.conf")])
    wait_for(lambda: redis_master() is not None, 60, "the Sentinels to name a master")


def redis_cli(node, *args):
    """redis-cli on node's Redis as the ACL user (its password from the state file)."""
    env = dict(os.environ, REDISCLI_AUTH=load_state()["secrets"]["redis"])
    return in_ns(node, ["redis-cli", "--user", REDIS_USER, "-h", NODES[node]["app"]]
                 + list(args), check=False, env=env).stdout


def redis_master():
    """host the Sentinels name as master (asked in turn), or None."""
    for node in SENTINELS:
        out = in_ns(node, ["redis-cli", "-h", NODES[node]["app"], "-p", str(SENTINEL_PORT),
                           "SENTINEL", "get-master-addr-by-name", MASTER_NAME],
                    check=False).stdout.split()
        if len(out) == 2:
            for name, nets in NODES.items():
                if nets.get("app") == out[0]:
                    return name
    return None


# -- app hosts -------------------------------------------------------------------
def app_env(state, host):
    d = os.path.join(DIR, host)
    s = state["secrets"]
    return {
        "SOTTO_LISTEN": os.path.join(d, "run", "sotto.sock"),
        "SOTTO_NCHAN_PUBLISH": os.path.join(d, "run", "nchan", "nchan.sock"),
        "SOTTO_MIGRATIONS_DIR": os.path.join(REPO, "sql"),
        "DATABASE_URL": DATABASE_URL,
        "DATABASE_READ_URL": DATABASE_READ_URL,
        # a deleted post leaves anonymous reads within this (scenario 5: 1 s)
        "SOTTO_READ_MAX_LAG_MS": str(READ_MAX_LAG_MS),
        "REDIS_SENTINELS": REDIS_SENTINELS,
        "REDIS_MASTER_NAME": MASTER_NAME,
        "REDIS_MASTER_USER": REDIS_USER, "REDIS_MASTER_PASSWORD": s["redis"],
        "JWT_SECRET": s["jwt"], "IP_HMAC_KEY": s["ip"], "CONTENT_KEYS": s["content"],
        "ADMIN_REVIEW_TOKEN": s["review"], "ADMIN_UI_TOKEN": s["ui"],
        "SOTTO_WORKERS": str(WORKERS),
        "SOTTO_DB_STATEMENT_TIMEOUT_MS": "3000",
        "SOTTO_SHUTDOWN_TIMEOUT_MS": "10000",
        "SOTTO_MODERATION_THRESHOLD": "off",
        "SOTTO_FEED_SNAPSHOT_SHARE": "0",
        "SOTTO_RATE_GLOBAL": "1000000/60",
        **{"SOTTO_RATE_%s" % c: "1000000/60"
           for c in ("REGISTER", "LOGIN", "POST", "VOTE", "FLAG", "DM", "COMMUNITY")},
        **{"SOTTO_POW_%s" % a: "0"
           for a in ("REGISTER", "LOGIN", "POST", "REPLY", "VOTE", "FLAG", "DM", "COMMUNITY")},
    }


def write_env(state, host, **override):
    path = os.path.join(DIR, host, "sotto.env")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        for k, v in dict(app_env(state, host), **override).items():
            f.write("%s=%s\n" % (k, v))
    return path


def proc_env(state, host):
    return {"PATH": "/usr/bin:/bin", "SOTTO_ENV_FILE": os.path.join(DIR, host, "sotto.env")}


def render_nginx(state, host):
    d = os.path.join(DIR, host)
    env = dict(os.environ, SOTTO_VAR=d, SOTTO_HTTPS_PORT=str(HTTPS_PORT),
               SOTTO_HTTP_PORT=str(HTTP_PORT), STACK_LISTEN_ADDR=NODES[host]["app"],
               STACK_NCHAN_REDIS_URL="redis://%s:6379" % NODES["rt"]["app"])
    conf = run(["bash", os.path.join(REPO, "scripts", "stack.sh"), "nginx-conf"], env=env,
               capture_output=True, text=True).stdout
    os.makedirs(os.path.join(d, "nginx", "tmp"), exist_ok=True)
    os.makedirs(os.path.join(d, "log"), exist_ok=True)
    with open(os.path.join(d, "nginx", "nginx.conf"), "w") as f:
        f.write(conf)
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=%s" % host,
         "-keyout", os.path.join(d, "nginx", "key.pem"),
         "-out", os.path.join(d, "nginx", "cert.pem")], capture_output=True)


def start_app(state, host):
    """Start host's pool, moderator and nginx (none of them may be running):
    sockets a killed host left behind go first, or the new ones cannot bind."""
    d = os.path.join(DIR, host)
    env = proc_env(state, host)
    for name in ("sotto.sock", os.path.join("nchan", "nchan.sock"), "nginx.pid"):
        if os.path.exists(os.path.join(d, "run", name)):
            os.unlink(os.path.join(d, "run", name))
    spawn(state, "sotto-" + host, host, [BIN, "serve"], env=env, cwd=REPO)
    wait_for(lambda: os.path.exists(os.path.join(d, "run", "sotto.sock")), 60,
             "the pool's socket on " + host)
    spawn(state, "moderate-" + host, host, [BIN, "moderate"], env=env, cwd=REPO)
    spawn(state, "nginx-" + host, host,
          ["/usr/sbin/nginx", "-p", os.path.join(d, "nginx") + "/", "-c", "nginx.conf",
           "-e", os.path.join(d, "log", "nginx-error.log"), "-g", "daemon off;"], cwd=REPO)
    wait_for(lambda: app_health(host), 60, "GET /health on " + host)


def app_health(host):
    r = in_ns("client", ["curl", "-sk", "-m", "3", "-o", "/dev/null", "-w", "%{http_code}",
                         "https://%s:%d/health" % (NODES[host]["app"], HTTPS_PORT)], check=False)
    return r.stdout == "200"


def setup_apps(state):
    for host in APP_HOSTS:
        # nginx makes the nchan publisher socket 0666: only its directory guards it
        # (as in the development stack).
        os.makedirs(os.path.join(DIR, host, "run", "nchan"), mode=0o750, exist_ok=True)
        write_env(state, host)
        render_nginx(state, host)
    r = in_ns("client", [BIN, "migrate"], env=dict(os.environ, **proc_env(state, "app1")),
              check=False, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("sotto migrate failed: %s %s" % (r.stdout, r.stderr))
    for host in APP_HOSTS:
        start_app(state, host)


def setup_front(state):
    d = os.path.join(DIR, "front")
    os.makedirs(d, exist_ok=True)
    servers = "\n".join("    server %s %s:%d check inter 500 fall 2 rise 2"
                        % (h, NODES[h]["app"], HTTPS_PORT) for h in APP_HOSTS)
    with open(os.path.join(d, "haproxy.cfg"), "w") as f:
        f.write("""global
    maxconn 4096
    stats socket %s mode 600 level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 2
    option redispatch
frontend https
    bind %s:%d
    default_backend apps
backend apps
    balance roundrobin
%s
""" % (os.path.join(d, "admin.sock"), NODES["front"]["app"], HTTPS_PORT, servers))
    spawn(state, "haproxy", "front", ["/usr/sbin/haproxy", "-db", "-f",
                                      os.path.join(d, "haproxy.cfg")])


# -- up / down -------------------------------------------------------------------
TOOLS = ("/usr/bin/patroni", "/usr/bin/etcd", "/usr/bin/redis-sentinel", "/usr/sbin/haproxy",
         "/usr/bin/redis-server", "/usr/sbin/nginx", "/usr/bin/setpriv", "/usr/bin/curl",
         PG_BIN + "/postgres")


def up():
    if os.geteuid() != 0:
        sys.exit("cluster: must run as root (network namespaces)")
    missing = [t for t in TOOLS if not os.access(t, os.X_OK)]
    if missing:
        sys.exit("cluster: missing %s: apt-get install $(sed 's/#.*//' "
                 "scripts/packages-cluster.txt)" % ", ".join(missing))
    if not os.access(BIN, os.X_OK):
        sys.exit("cluster: no sotto binary at %s (make, or set SOTTO_BIN)" % BIN)
    if os.path.exists(STATE):
        sys.exit("cluster: %s exists: run `cluster.py down` first" % STATE)
    os.makedirs(DIR, exist_ok=True)
    os.chmod(DIR, 0o755)
    state = {"procs": {}, "slot": None, "secrets": {
        "jwt": secrets.token_urlsafe(32), "ip": secrets.token_hex(32),
        "content": "1:" + secrets.token_urlsafe(32),
        "review": secrets.token_hex(32), "ui": secrets.token_hex(32),
        "redis": secrets.token_hex(32)}}
    save_state(state)
    started = time.monotonic()
    claim_slot(state)
    say("networks of slot %d (%s.0/24, %s.0/24) in %s" % (SLOT, SUBNETS["app"], SUBNETS["data"],
                                                        DIR))
    netns_up()
    say("PostgreSQL: etcd and three Patroni nodes")
    setup_pg(state)
    say("Redis: master, replica, three Sentinels; nchan's Redis")
    setup_redis(state)
    say("app hosts")
    setup_apps(state)
    setup_front(state)
    wait_for(lambda: in_ns("client", ["curl", "-sk", "-m", "3", "-o", "/dev/null", "-w",
                                      "%{http_code}", front_url("/health")],
                           check=False).stdout == "200", 30, "GET /health through the front")
    say("up in %.0f s: %s from `ip netns exec %s` (state %s)"
        % (time.monotonic() - started, front_url("/"), ns("client"), STATE))


def front_url(path):
    return "https://%s:%d%s" % (NODES["front"]["app"], HTTPS_PORT, path)


def host_url(host, path):
    return "https://%s:%d%s" % (NODES[host]["app"], HTTPS_PORT, path)


def down():
    """Stop what this run started and delete its namespaces and directory;
    nothing of another run's."""
    state = load_state()
    if state["slot"] is None:
        shutil.rmtree(DIR, ignore_errors=True)
        say("down (%s held no run)" % DIR)
        return
    use_slot(state["slot"])
    for key, p in state["procs"].items():
        kill_pid(p["pid"], signal.SIGTERM if key.startswith("patroni") else signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(pid_alive(p["pid"]) for p in state["procs"].values()):
        time.sleep(0.2)
    for p in state["procs"].values():
        kill_pid(p["pid"])
    for node in NODES:
        for pid in ns_pids(node):
            kill_pid(pid)
    netns_down()
    shutil.rmtree(DIR, ignore_errors=True)
    say("down: slot %d" % SLOT)


def check(args, script="-m pytest"):
    """up, the scenarios (or script) in the client's namespace, down. Without
    SOTTO_CLUSTER_DIR the run gets a new directory, so runs from several
    clones at once keep apart; the tests find it in the environment."""
    rc = 1
    started = time.monotonic()
    if "SOTTO_CLUSTER_DIR" not in os.environ:
        use_dir(tempfile.mkdtemp(prefix="sotto-cluster-"))
        os.environ["SOTTO_CLUSTER_DIR"] = DIR
    try:
        up()
        argv = ["ip", "netns", "exec", ns("client"), sys.executable]
        argv += ["-m", "pytest", "-q", "-p", "no:cacheprovider",
                 os.path.join(REPO, "tests", "cluster")] + args if script == "-m pytest" else [script] + args
        rc = subprocess.run(argv, cwd=REPO).returncode
        if os.path.exists(figures_path()):
            with open(figures_path()) as f:
                say("figures: %s" % json.dumps(json.load(f), sort_keys=True))
    finally:
        if os.environ.get("SOTTO_CLUSTER_KEEP") != "1":
            down()
        say("%s in %.0f s" % ("passed" if rc == 0 else "FAILED", time.monotonic() - started))
    return rc


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "up":
        try:
            up()
        except Exception:
            down()
            raise
    elif cmd == "down":
        down()
    elif cmd == "check":
        sys.exit(check(sys.argv[2:]))
    elif cmd == "bench":
        sys.exit(check(sys.argv[2:], os.path.join(REPO, "tests", "cluster", "bench.py")))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
