"""The bench's pgbench_post line (tests/bench/pgbench-post.sql) runs what
POST /posts runs in the database: each of its statements is the server's
prepared statement it names, with the server's $k replaced by what the
script says, and they come in the order the handler runs them. A change to
either side without the other fails here."""
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "tests", "bench", "pgbench-post.sql")
HANDLER = "handle_post_create"

LITERAL = r'"(?:\\.|[^"\\\n])*"'
CHAR = r"'(?:\\.|[^'\\\n])*'"
# Comments, found with the literals that may hold "//" or "/*".
TOKEN = re.compile(LITERAL + "|" + CHAR + r"|/\*.*?\*/|//[^\n]*", re.S)
# static struct db_stmt VAR = { "name", "sql" "sql"..., n_params, 0 };
STMT = re.compile(r"static\s+struct\s+db_stmt\s+(\w+)\s*=\s*\{\s*(" + LITERAL + r")\s*,"
                  r"((?:\s*" + LITERAL + r")+)\s*,\s*(\d+)\s*,\s*0\s*\}\s*;")
DEFINITION = re.compile(r"^[A-Za-z_][^;{}()]*?\b([A-Za-z_]\w*)\s*\([^;{}]*\)[^;{}]*\n\{", re.M)
# In a function body: a statement used (&stmt_x) or a call (name().
USE = re.compile(r"&\s*(\w+)|\b([A-Za-z_]\w*)\s*\(")
PARAM = re.compile(r"\$(\d+)")

# Statements on POST /posts's path that a post like the bench's (top-level,
# no "community") never reaches, and why.
NOT_REACHED = {
    "community_pk": "only for a post that names a community",
}


def c_string(literals):
    """The value of adjacent C string literals (no escapes but \\" are used in SQL)."""
    return "".join(s[1:-1].replace('\\"', '"') for s in re.findall(LITERAL, literals))


def c_files():
    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "app", "*.c"))):
        with open(path, encoding="utf-8") as f:
            out[os.path.relpath(path, ROOT)] = TOKEN.sub(
                lambda m: " " if m.group(0).startswith("/") else m.group(0), f.read())
    return out


def statements(files):
    """name -> (file, C variable, sql, n_params) for every statement in app/."""
    out = {}
    for path, text in files.items():
        for var, name, sql, n in STMT.findall(text):
            out[c_string(name)] = (path, var, c_string(sql), int(n))
    return out


def functions(files):
    """function name -> (file, body) for every function defined in app/."""
    out = {}
    for path, text in files.items():
        text = re.sub(LITERAL + "|" + CHAR, '""', text)   # braces in literals
        for m in DEFINITION.finditer(text):
            depth, i = 1, m.end()
            while depth:
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
            out[m.group(1)] = (path, text[m.end():i - 1])
    return out


def reached(files, start):
    """The statement names start may run, in the order its source names them:
    its body and the bodies of the app/ functions it calls, depth first, each
    function once (a static walk: branches are not told apart)."""
    funcs, stmts = functions(files), statements(files)
    by_var = {(path, var): name for name, (path, var, _, _) in stmts.items()}
    seen, order = set(), []

    def walk(fn):
        if fn in seen or fn not in funcs:
            return
        seen.add(fn)
        path, body = funcs[fn]
        for var, call in USE.findall(body):
            if var:
                name = by_var.get((path, var))
                if name is not None and name not in order:
                    order.append(name)
            else:
                walk(call)
    walk(start)
    return order


def script_statements(text):
    """[(name, {k: expression}, sql)] of the script, in order."""
    out, current = [], None
    for line in text.splitlines():
        m = re.match(r"^-- statement (\w+) \(([\w/.]+)\)", line)
        if m:
            current = (m.group(1), m.group(2), {})
            continue
        m = re.match(r"^--\s+\$(\d+) = (.+)$", line)
        if m and current:
            current[2][int(m.group(1))] = m.group(2).strip()
            continue
        if line.strip() and not line.startswith(("--", "\\")):
            assert current, "SQL without a '-- statement NAME (FILE)' line: %s" % line
            out.append((current[0], current[1], current[2], line.strip().rstrip(";")))
            current = None
    return out


def normal(sql):
    return " ".join(sql.split())


def bound(sql, exprs):
    """sql with each $k replaced by exprs[k]."""
    return PARAM.sub(lambda m: exprs[int(m.group(1))], sql)


def test_every_script_statement_is_the_servers_with_its_parameters_filled_in():
    stmts = statements(c_files())
    with open(SCRIPT, encoding="utf-8") as f:
        script = script_statements(f.read())
    assert script, "no statements in %s" % SCRIPT
    for name, path, exprs, sql in script:
        assert name in stmts, "%s names %s, which app/ does not prepare (as literal SQL)" % (
            SCRIPT, name)
        where, _, server_sql, n_params = stmts[name]
        assert where == path, "%s is prepared in %s, not %s" % (name, where, path)
        used = {int(k) for k in PARAM.findall(server_sql)}
        assert used == set(range(1, n_params + 1)), (name, used, n_params)
        assert set(exprs) == used, \
            "%s: the script fills $%s, the server's statement has $%s" % (
                name, sorted(exprs), sorted(used))
        assert normal(sql) == normal(bound(server_sql, exprs)), \
            "%s drifted from the server's statement:\n  script: %s\n  server: %s" % (
                name, normal(sql), normal(bound(server_sql, exprs)))


def test_the_script_runs_the_statements_of_post_creation_in_the_servers_order():
    with open(SCRIPT, encoding="utf-8") as f:
        script = [s[0] for s in script_statements(f.read())]
    server = [s for s in reached(c_files(), HANDLER) if s not in NOT_REACHED]
    assert script == server, \
        "POST /posts (%s) runs %s; %s runs %s" % (HANDLER, server, SCRIPT, script)


def test_the_statements_left_out_are_on_the_path():
    path = reached(c_files(), HANDLER)
    for name in NOT_REACHED:
        assert name in path, "%s is no longer on POST /posts's path: drop it from NOT_REACHED" % name
