"""docs/openapi.yaml and the route table must describe the same routes."""
import os
import re
import subprocess

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = {"get", "head", "post", "put", "patch", "delete", "options"}


def route_table():
    binary = os.environ.get("SOTTO_BIN", os.path.join(ROOT, "sotto"))
    out = subprocess.run([binary, "routes"], check=True, capture_output=True, text=True).stdout
    return {tuple(line.split(" ", 1)) for line in out.splitlines() if line}


def openapi_routes():
    with open(os.path.join(ROOT, "docs", "openapi.yaml"), encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    assert doc["openapi"].startswith("3.1"), "the document must be OpenAPI 3.1"
    found = set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                found.add((method.upper(), path))
                assert op.get("responses"), f"{method.upper()} {path} lists no responses"
    return found, doc


def test_every_route_in_the_table_is_documented_and_nothing_else():
    table = route_table()
    documented, _ = openapi_routes()
    assert table - documented == set(), "routes missing from docs/openapi.yaml"
    assert documented - table == set(), "documented routes the server does not have"


def test_every_documented_error_response_uses_the_error_shape():
    _, doc = openapi_routes()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            for status, resp in op["responses"].items():
                if not re.fullmatch(r"[45]\d\d", str(status)) or "$ref" in resp:
                    continue
                schema = resp["content"]["application/json"]["schema"]["$ref"]
                assert schema.endswith(("/Error", "/Health")), f"{method} {path} {status}"


def test_path_parameters_are_declared():
    _, doc = openapi_routes()
    for path, item in doc["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            if method not in METHODS:
                continue
            params = item.get("parameters", []) + op.get("parameters", [])
            declared = {p["name"] for p in params if p.get("in") == "path"}
            assert names == declared, f"{method.upper()} {path} path parameters"
