"""The documentation in the repository stands on its own: the README stays a
newcomer's page, every relative link in README.md and docs/ leads to a file
of the tree, and no tracked file sends its reader to planning notes outside
the repository."""
import os
import re
import subprocess

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
README_MAX_LINES = 250
# A markdown link target: [text](target), without a scheme or a bare anchor.
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Names of the planning notes kept outside the repository.
OUTSIDE = re.compile(r"DESIGN\.md|API\.md|\.\./shared")


def tracked(*patterns):
    out = subprocess.run(["git", "ls-files", "-z", "--"] + list(patterns), cwd=REPO,
                         capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def test_readme_is_short():
    with open(os.path.join(REPO, "README.md")) as f:
        n = sum(1 for _ in f)
    assert n <= README_MAX_LINES, "README.md has %d lines; move detail to docs/" % n


def test_relative_links_resolve():
    broken = []
    for doc in tracked("README.md", "docs/*.md"):
        with open(os.path.join(REPO, doc)) as f:
            text = f.read()
        for target in LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue
            path = os.path.normpath(os.path.join(os.path.dirname(doc), target.split("#")[0]))
            if not os.path.exists(os.path.join(REPO, path)):
                broken.append("%s -> %s" % (doc, target))
    assert broken == [], "links to missing files:\n" + "\n".join(broken)


def test_nothing_points_outside_the_repository():
    hits = []
    for path in tracked():
        if path.startswith("tests/fuzz/seeds/") or path == "tests/static/test_docs.py":
            continue
        try:
            with open(os.path.join(REPO, path), encoding="utf-8") as f:
                text = f.read()
        except (UnicodeDecodeError, IsADirectoryError):
            continue
        for no, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append("%s:%d: %s" % (path, no, line.strip()[:100]))
    assert hits == [], "citations of notes outside the repository:\n" + "\n".join(hits)
