"""docs/configuration.md is generated from the settings table: it must be what
`sotto check-config --list --markdown` prints (`make docs/configuration.md`)."""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sotto(*args):
    binary = os.environ.get("SOTTO_BIN", os.path.join(ROOT, "sotto"))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run([binary, *args], check=True, capture_output=True, text=True,
                          env=env).stdout


def test_committed_configuration_reference_matches_the_binary():
    with open(os.path.join(ROOT, "docs", "configuration.md"), encoding="utf-8") as f:
        committed = f.read()
    assert committed == sotto("check-config", "--list", "--markdown"), \
        "docs/configuration.md is stale: run `make docs/configuration.md`"


def test_every_setting_row_has_six_filled_cells_and_secrets_show_no_value():
    rows = [line for line in sotto("check-config", "--list", "--markdown").splitlines()
            if line.startswith("| `")]
    names = [re.match(r"\| `([A-Z0-9_]+)`", row).group(1) for row in rows]
    assert len(names) == len(set(names)), "a setting is listed twice"
    for name in ("SOTTO_RATE_GLOBAL", "SOTTO_POW_REGISTER", "SOTTO_EVENT_TTL_DAYS",
                 "SOTTO_FLAG_HOLD_WEIGHT", "SOTTO_NCHAN_TIMEOUT_MS", "JWT_SECRET"):
        assert name in names
    for row in rows:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert len(cells) == 6, row
        assert all(cells[i] for i in (0, 1, 2, 4, 5)), row
        if cells[4] == "yes":
            assert cells[2] in ("(required)", "(empty)"), row


def test_the_plain_listing_names_the_same_settings():
    plain = sotto("check-config", "--list").splitlines()
    md = [line for line in sotto("check-config", "--list", "--markdown").splitlines()
          if line.startswith("| `")]
    assert plain[0].split()[:3] == ["NAME", "TYPE", "DEFAULT"]
    assert [line.split()[0] for line in plain[1:]] == \
        [re.match(r"\| `([A-Z0-9_]+)`", row).group(1) for row in md]
