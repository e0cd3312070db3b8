"""Layers point one way: the include graph of app/ and include/ has no
cycle between modules, and handler files share nothing but modules below
them (no handler file includes another's header or calls its functions)."""
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'')
# A function definition: its name at the start of a line's declarator,
# the parameter list, and the opening brace on the line after it.
DEFINITION = re.compile(r"^[A-Za-z_][^;{}()]*?\b([A-Za-z_]\w*)\s*\([^;{}]*\)[^;{}]*\n\{", re.M)
HANDLER = re.compile(r"^handlers_\w+$")


def module(path):
    """A module is the .c/.h pair of one name."""
    return os.path.splitext(os.path.basename(path))[0]


def sources():
    return sorted(glob.glob(os.path.join(ROOT, "app", "*.c")) +
                  glob.glob(os.path.join(ROOT, "include", "*.h")))


def code_of(path):
    """The file's text without comments and string literals."""
    with open(path, encoding="utf-8") as f:
        return STRING.sub('""', COMMENT.sub(" ", f.read()))


def include_graph():
    graph = {}
    for path in sources():
        with open(path, encoding="utf-8") as f:
            names = INCLUDE.findall(COMMENT.sub(" ", f.read()))
        edges = graph.setdefault(module(path), set())
        edges.update(module(n) for n in names if module(n) != module(path))
    return graph


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def handler_files():
    return [p for p in glob.glob(os.path.join(ROOT, "app", "handlers_*.c"))
            if HANDLER.match(module(p))]


def test_the_include_graph_has_no_cycle_between_modules():
    assert cycles(include_graph()) == []


def test_the_cycle_check_finds_a_cycle_through_a_header():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_handler_file_includes_another_handler_header():
    for path in handler_files():
        with open(path, encoding="utf-8") as f:
            names = INCLUDE.findall(COMMENT.sub(" ", f.read()))
        others = [n for n in names
                  if HANDLER.match(module(n)) and module(n) != module(path)]
        assert others == [], f"{module(path)}.c includes {others}"


def test_handlers_h_declares_only_route_handlers():
    """handlers.h is the route table's list of handlers, not a way to share code."""
    code = code_of(os.path.join(ROOT, "include", "handlers.h"))
    declared = re.findall(r"\b([A-Za-z_]\w*)\s*\(", code)
    assert declared, "handlers.h declares no handler"
    assert [d for d in declared if not d.startswith("handle_")] == []


def exported(path):
    """Names of the functions path defines without static."""
    return {m.group(1) for m in DEFINITION.finditer(code_of(path))
            if not m.group(0).startswith("static")}


def test_no_handler_file_calls_a_function_defined_in_another():
    defined = {path: exported(path) for path in handler_files()}
    assert all(defined.values()), "a handler file whose definitions were not found"
    for path in defined:
        code = code_of(path)
        for other, names in defined.items():
            if other == path:
                continue
            called = sorted(n for n in names if re.search(r"\b%s\s*\(" % re.escape(n), code))
            assert called == [], f"{module(path)}.c calls {module(other)}.c's {called}"
