"""Request bodies: media type, size limit and strict JSON (docs/api.md, "Conventions"; docs/architecture.md on json-c).

Through POST /pow/challenge {"action": "post"}, a route taking a JSON body.
The main stack runs with SOTTO_BODY_MAX_BYTES=4096 while nginx allows more,
so an oversized body reaches sotto and sotto must answer 413 itself. Every
body that is not one strict JSON object, NUL-free and valid UTF-8, is
400 invalid_json: that is the one answer, whatever the parser's reason.
"""
import pytest

from conftest import MAIN_SETTINGS, assert_error, assert_standard_headers, describe

PATH = "/pow/challenge"
LIMIT = int(MAIN_SETTINGS["SOTTO_BODY_MAX_BYTES"])
JSON = {"Content-Type": "application/json"}
VALID = b'{"action":"post"}'


def post(stack, body, headers=JSON):
    return stack.request("POST", PATH, data=body, headers=headers)


def test_valid_json_body_is_accepted(stack):
    r = post(stack, VALID)
    assert r.status_code == 200, describe(r)
    doc = r.json()
    assert doc["action"] == "post" and isinstance(doc["challenge"], str), doc
    assert_standard_headers(r)


@pytest.mark.parametrize("ctype", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_media_type_parameters_and_case_are_accepted(stack, ctype):
    r = post(stack, VALID, {"Content-Type": ctype})
    assert r.status_code == 200, describe(r)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "application/jsonp", "multipart/form-data; boundary=x"])
def test_body_with_other_content_type_is_415_unsupported_media_type(stack, ctype):
    r = post(stack, VALID, {"Content-Type": ctype})
    assert_error(r, 415, "unsupported_media_type")
    assert_standard_headers(r)


def test_body_without_content_type_is_415(stack):
    r = stack.request("POST", PATH, data=VALID)  # requests sends no Content-Type for bytes
    assert "Content-Type" not in r.request.headers
    assert_error(r, 415, "unsupported_media_type")


def test_body_one_byte_over_limit_is_413_from_sotto(stack):
    body = b" " * (LIMIT + 1 - len(VALID)) + VALID
    assert len(body) == LIMIT + 1
    r = post(stack, body)
    assert_error(r, 413, "payload_too_large")
    assert_standard_headers(r)


def test_body_exactly_at_limit_is_not_413(stack):
    """Leading whitespace is valid JSON (RFC 8259), so this is a valid request of LIMIT bytes."""
    body = b" " * (LIMIT - len(VALID)) + VALID
    assert len(body) == LIMIT
    r = post(stack, body)
    assert r.status_code == 200, describe(r)


def test_trailing_newline_after_object_is_accepted(stack):
    r = post(stack, VALID + b"\n")
    assert r.status_code == 200, describe(r)


@pytest.mark.parametrize("body", [
    b'{"action":',
    b'{"action":"post"',
    b"",
    b"not json",
    b'{"action":"post",}',
    b"{'action':'post'}",
    b'/*c*/{"action":"post"}',
    b'{"action":"post"} // c',
    b'{"action":"post","n":NaN}',
    b'{"action":"post","n":Infinity}',
    b'{"action":"post","n":01}',
    b'{"action":"post","n":1.}',
    b'{"action":"post","n":+1}',
    b'{action:"post"}',
    b'{"action":"po\x01st"}',          # raw control character inside a string (RFC 8259 s7)
    b'{"action":"post","note":"a\x1fb"}',  # ... in a field the route does not read
    b'{"action":"post","note":"a\nb"}',    # a raw newline inside a string
    b'{"action":"po\x00st"}',          # raw NUL byte
    b'{"action":"post","s":"\\x41"}',  # invalid escape
    b'{"action":"post","s":"\\u12"}',  # short \u escape
], ids=lambda b: repr(b)[:40])
def test_invalid_json_is_400_invalid_json(stack, body):
    r = post(stack, body)
    assert_error(r, 400, "invalid_json")
    assert_standard_headers(r)


def test_json_nested_deeper_than_limit_is_400_invalid_json(stack):
    body = b'{"action":"post","x":' + b"[" * 100 + b"]" * 100 + b"}"
    r = post(stack, body)
    assert_error(r, 400, "invalid_json")


def test_json_nested_objects_deeper_than_limit_is_400(stack):
    body = b'{"action":"post","x":' + b'{"a":' * 100 + b"1" + b"}" * 100 + b"}"
    r = post(stack, body)
    assert_error(r, 400, "invalid_json")


@pytest.mark.parametrize("garbage", [b" x", b"{}", b'{"action":"post"}', b"]", b"\x00"])
def test_trailing_garbage_after_object_is_400(stack, garbage):
    r = post(stack, VALID + garbage)
    assert_error(r, 400, "invalid_json")


@pytest.mark.parametrize("bad", [
    b"\xff",              # never valid
    b"\xc3",              # truncated two-byte sequence
    b"\xe2\x82",          # truncated three-byte sequence
    b"\x80",              # lone continuation byte
    b"\xc0\xaf",          # overlong '/'
    b"\xed\xa0\x80",      # UTF-16 surrogate encoded in UTF-8
    b"\xf4\x90\x80\x80",  # above U+10FFFF
], ids=lambda b: b.hex())
def test_invalid_utf8_inside_string_is_400(stack, bad):
    # In a field of its own, so a lenient parser cannot hide behind "unknown action".
    r = post(stack, b'{"action":"post","note":"a' + bad + b'b"}')
    assert_error(r, 400, "invalid_json")


def test_invalid_utf8_in_action_is_400(stack):
    r = post(stack, b'{"action":"po\xffst"}')
    assert_error(r, 400, "invalid_json")


def test_escaped_nul_inside_string_is_400_invalid_json(stack):
    """\\u0000 is valid JSON text but no field may hold a NUL (docs/api.md: NUL is
    rejected, escaped or raw): the parser refuses it, also in a field the route
    does not read (it must never reach storage)."""
    assert_error(post(stack, b'{"action":"po\\u0000st"}'), 400, "invalid_json")
    assert_error(post(stack, b'{"action":"post","note":"a\\u0000b"}'), 400, "invalid_json")


def test_lone_surrogate_escape_is_400_invalid_json(stack):
    """\\ud800 matches RFC 8259's grammar but encodes no character: refused,
    not replaced with U+FFFD."""
    assert_error(post(stack, b'{"action":"post","note":"a\\ud800b"}'), 400, "invalid_json")


@pytest.mark.parametrize("body", [b'["post"]', b'"post"', b"42", b"null", b"true"])
def test_top_level_non_object_is_400_invalid_json(stack, body):
    assert_error(post(stack, body), 400, "invalid_json")
