"""The Python of the test suites and tools reads cleanly: pyflakes finds no
unused import or name, no undefined name, no shadowed loop variable. A
helper moved into a shared module leaves no stale import behind."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TREES = ("tests", "scripts")


def python_files():
    found = []
    for tree in TREES:
        for top, dirs, files in os.walk(os.path.join(ROOT, tree)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            found += [os.path.join(top, f) for f in sorted(files) if f.endswith(".py")]
    return found


def test_pyflakes_finds_nothing():
    files = python_files()
    assert files, "no Python files under %s" % ", ".join(TREES)
    r = subprocess.run([sys.executable, "-m", "pyflakes"] + files,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and not r.stderr, r.stdout + r.stderr
