"""SigV4 verification against requests signed by botocore itself, as boto3 sends them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock
from urllib.parse import quote

import botocore.auth
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grid._http.sigv4 import credentials_from_env, load_credentials, parse_credentials_text, verify
from grid.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

KEY_ID = "AKIDGRIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
CREDENTIALS = {KEY_ID: SECRET, "AKIDOTHER": "another/secret+key"}
SIGNED_AT = datetime(2024, 5, 17, 12, 30, 45, tzinfo=timezone.utc)
HOST = "localhost:8000"

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

PUT_ITEM = json.dumps(
    {"TableName": "orders", "Item": {"pk": {"S": "customer#1"}, "sk": {"N": "42"}, "note": {"S": "héllo ☃"}}}
).encode()


@dataclass(frozen=True)
class Wire:
    """A request as the server sees it: what ``verify`` is given."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def verify(self, credentials: dict[str, str] = CREDENTIALS, now: datetime = SIGNED_AT) -> str:
        return verify(self.method, self.path, self.query, self.headers, self.body, credentials, now=now)

    def with_header(self, name: str, value: str | None) -> Wire:
        headers = {k: v for k, v in self.headers.items() if k.lower() != name.lower()}
        if value is not None:
            headers[name] = value
        return replace(self, headers=headers)


def sign(
    body: bytes = PUT_ITEM,
    *,
    target: str = "DynamoDB_20120810.PutItem",
    path: str = "/",
    query: str = "",
    method: str = "POST",
    key_id: str = KEY_ID,
    secret: str = SECRET,
    region: str = "us-east-1",
    service: str = "dynamodb",
    when: datetime = SIGNED_AT,
    token: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Wire:
    """Sign with botocore's SigV4Auth at ``when``; ``path`` and ``query`` are already percent-encoded."""
    url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target, **(extra_headers or {})}
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    # botocore reads the clock as a naive UTC datetime.
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when.replace(tzinfo=None)):
        SigV4Auth(Credentials(key_id, secret, token), service, region).add_auth(request)
    sent = dict(request.headers.items())
    # botocore signs a Host header derived from the URL; the HTTP client sends that header.
    sent.setdefault("Host", HOST)
    return Wire(method, path, query, sent, body)


# -- accepted ------------------------------------------------------------------------------------


def test_streams_signing_name_is_dynamodb_in_botocores_model() -> None:
    model = botocore.session.get_session().get_service_model("dynamodbstreams")
    assert model.signing_name == "dynamodb"
    assert model.metadata["targetPrefix"] == "DynamoDBStreams_20120810"


@pytest.mark.parametrize(
    "target",
    [
        "DynamoDB_20120810.PutItem",
        "DynamoDB_20120810.GetItem",
        "DynamoDB_20120810.Query",
        "DynamoDBStreams_20120810.GetRecords",
        "DynamoDBStreams_20120810.DescribeStream",
    ],
)
def test_botocore_signed_requests_verify(target: str) -> None:
    assert sign(target=target).verify() == KEY_ID


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3", "local", "grid"])
def test_any_region_is_accepted(region: str) -> None:
    assert sign(region=region).verify() == KEY_ID


def test_returns_the_signing_key_id_among_several() -> None:
    assert sign(key_id="AKIDOTHER", secret="another/secret+key").verify() == "AKIDOTHER"


def test_empty_body_verifies() -> None:
    assert sign(b"").verify() == KEY_ID


def test_header_names_are_matched_case_insensitively() -> None:
    wire = sign()
    for transform in (str.lower, str.upper):
        headers = {transform(name): value for name, value in wire.headers.items()}
        assert replace(wire, headers=headers).verify() == KEY_ID


def test_session_token_header_is_signed_and_accepted() -> None:
    wire = sign(token="session-token-value")
    assert "x-amz-security-token" in wire.headers["Authorization"]
    assert wire.verify() == KEY_ID
    with pytest.raises(InvalidSignatureException):
        wire.with_header("X-Amz-Security-Token", "another-token").verify()


def test_matching_content_sha256_header_is_accepted() -> None:
    digest = hashlib.sha256(PUT_ITEM).hexdigest()
    wire = sign(extra_headers={"X-Amz-Content-SHA256": digest})
    assert wire.verify() == KEY_ID


def test_header_values_are_trimmed_and_whitespace_collapsed() -> None:
    wire = sign(extra_headers={"X-Custom": "  a   b  c "})
    assert wire.verify() == KEY_ID
    assert wire.with_header("X-Custom", "a b c").verify() == KEY_ID


def test_unsigned_headers_may_change() -> None:
    wire = sign(extra_headers={"User-Agent": "Boto3/1.0"})
    assert "user-agent" not in wire.headers["Authorization"]
    assert wire.with_header("User-Agent", "curl/8").verify() == KEY_ID


@pytest.mark.parametrize(
    "path",
    ["/", "/a/b", "/a/./b/../c", "//double//slash/", "/with%20space", "/tilde~and-dash_.", "/%E2%98%83/x"],
)
def test_paths_verify(path: str) -> None:
    assert sign(path=path).verify() == KEY_ID


@pytest.mark.parametrize("query", ["a=1", "b=2&a=1", "a=2&a=1", "flag", "x=%2F%20y&z=~"])
def test_query_strings_verify(query: str) -> None:
    assert sign(query=query).verify() == KEY_ID


def test_query_params_signed_by_botocore_verify() -> None:
    request = AWSRequest(method="GET", url=f"http://{HOST}/", params={"b": "x y/z", "a": "é"})
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=SIGNED_AT.replace(tzinfo=None)):
        SigV4Auth(Credentials(KEY_ID, SECRET), "dynamodb", "us-east-1").add_auth(request)
    prepared = request.prepare()
    path, _, query = prepared.url.removeprefix(f"http://{HOST}").partition("?")
    headers = {**dict(prepared.headers.items()), "Host": HOST}
    assert verify("GET", path, query, headers, b"", CREDENTIALS, now=SIGNED_AT) == KEY_ID


@pytest.mark.parametrize("offset", [timedelta(minutes=-15), timedelta(0), timedelta(minutes=15)])
def test_clock_skew_up_to_fifteen_minutes_is_accepted(offset: timedelta) -> None:
    assert sign().verify(now=SIGNED_AT + offset) == KEY_ID


def test_naive_now_is_taken_as_utc() -> None:
    assert sign().verify(now=SIGNED_AT.replace(tzinfo=None)) == KEY_ID


def test_default_now_is_the_current_time() -> None:
    wire = sign(when=datetime.now(timezone.utc))
    assert verify(wire.method, wire.path, wire.query, wire.headers, wire.body, CREDENTIALS) == KEY_ID


# -- refused -------------------------------------------------------------------------------------


def test_missing_authorization_header() -> None:
    with pytest.raises(MissingAuthenticationTokenException) as caught:
        sign().with_header("Authorization", None).verify()
    assert caught.value.message == "Request is missing Authentication Token"
    assert caught.value.code == "MissingAuthenticationTokenException"


@pytest.mark.parametrize("part", ["Credential", "SignedHeaders", "Signature"])
def test_authorization_missing_a_part(part: str) -> None:
    wire = sign()
    pieces = wire.headers["Authorization"].removeprefix("AWS4-HMAC-SHA256 ").split(", ")
    kept = ", ".join(p for p in pieces if not p.startswith(part + "="))
    with pytest.raises(IncompleteSignatureException) as caught:
        wire.with_header("Authorization", f"AWS4-HMAC-SHA256 {kept}").verify()
    assert f"Authorization header requires '{part}' parameter." in caught.value.message


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA512 Credential=AKIDGRIDEXAMPLE/20240517/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIDGRIDEXAMPLE/20240517/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIDGRIDEXAMPLE /20240517/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=00",
        "Bearer abc",
    ],
)
def test_malformed_authorization(authorization: str) -> None:
    with pytest.raises(IncompleteSignatureException):
        sign().with_header("Authorization", authorization).verify()


def test_host_must_be_signed() -> None:
    wire = sign()
    authorization = wire.headers["Authorization"].replace("host;", "")
    assert "host" not in authorization
    with pytest.raises(IncompleteSignatureException, match="'Host' or ':authority' must be a 'SignedHeader'"):
        wire.with_header("Authorization", authorization).verify()


def test_unknown_access_key() -> None:
    with pytest.raises(UnrecognizedClientException) as caught:
        sign(key_id="AKIDUNKNOWN").verify()
    assert caught.value.message == "The security token included in the request is invalid."


def test_wrong_secret() -> None:
    with pytest.raises(InvalidSignatureException) as caught:
        sign(secret="not-the-secret").verify()
    assert caught.value.message == MISMATCH


def test_tampered_body() -> None:
    wire = sign()
    with pytest.raises(InvalidSignatureException) as caught:
        replace(wire, body=wire.body.replace(b"42", b"43")).verify()
    assert caught.value.message == MISMATCH


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Amz-Target", "DynamoDB_20120810.DeleteItem"),
        ("Content-Type", "application/json"),
        ("Host", "evil.example:8000"),
    ],
)
def test_tampered_signed_header(header: str, value: str) -> None:
    with pytest.raises(InvalidSignatureException) as caught:
        sign().with_header(header, value).verify()
    assert caught.value.message == MISMATCH


def test_missing_signed_header() -> None:
    with pytest.raises(InvalidSignatureException):
        sign().with_header("X-Amz-Target", None).verify()


@pytest.mark.parametrize("change", ["method", "path", "query"])
def test_tampered_request_line(change: str) -> None:
    wire = sign(path="/a", query="x=1")
    tampered = {
        "method": replace(wire, method="PUT"),
        "path": replace(wire, path="/b"),
        "query": replace(wire, query="x=2"),
    }
    with pytest.raises(InvalidSignatureException):
        tampered[change].verify()


def test_tampered_signature() -> None:
    wire = sign()
    authorization = wire.headers["Authorization"]
    last = "0" if authorization[-1] != "0" else "1"
    with pytest.raises(InvalidSignatureException):
        wire.with_header("Authorization", authorization[:-1] + last).verify()


def test_service_must_be_dynamodb() -> None:
    with pytest.raises(InvalidSignatureException, match="Credential should be scoped to correct service: 'dynamodb'"):
        sign(service="streams.dynamodb").verify()


@pytest.mark.parametrize("offset", [timedelta(minutes=15, seconds=1), timedelta(hours=3)])
def test_signature_expired(offset: timedelta) -> None:
    with pytest.raises(InvalidSignatureException) as caught:
        sign().verify(now=SIGNED_AT + offset)
    assert caught.value.message.startswith("Signature expired: 20240517T123045Z is now earlier than ")


def test_signature_from_the_future() -> None:
    with pytest.raises(InvalidSignatureException) as caught:
        sign().verify(now=SIGNED_AT - timedelta(minutes=16))
    assert caught.value.message.startswith("Signature not yet current: 20240517T123045Z is still later than ")


def test_clock_skew_is_checked_even_when_the_signature_is_right() -> None:
    # Replaying a captured request an hour later must fail although nothing was altered.
    wire = sign()
    assert wire.verify() == KEY_ID
    with pytest.raises(InvalidSignatureException, match="Signature expired"):
        wire.verify(now=SIGNED_AT + timedelta(hours=1))


def test_missing_x_amz_date() -> None:
    with pytest.raises(IncompleteSignatureException, match="'X-Amz-Date' or a 'Date' header"):
        sign().with_header("X-Amz-Date", None).verify()


@pytest.mark.parametrize("value", ["2024-05-17T12:30:45Z", "20240517T123045", "20240517", "2024517T123045Z", "x" * 16])
def test_malformed_x_amz_date(value: str) -> None:
    with pytest.raises(IncompleteSignatureException, match="ISO-8601 'basic format'"):
        sign().with_header("X-Amz-Date", value).verify()


def test_scope_date_must_match_x_amz_date() -> None:
    # Both the scope and X-Amz-Date are plausible and within the skew, but disagree on the day.
    wire = sign(when=datetime(2024, 5, 17, 23, 59, 50, tzinfo=timezone.utc))
    wire = wire.with_header("X-Amz-Date", "20240518T000000Z")
    with pytest.raises(InvalidSignatureException, match="Date in Credential scope does not match"):
        wire.verify(now=datetime(2024, 5, 18, tzinfo=timezone.utc))


@pytest.mark.parametrize(
    "declared", [hashlib.sha256(b"something else").hexdigest(), "UNSIGNED-PAYLOAD", "not-hex-ünïcode"]
)
def test_bad_content_sha256(declared: str) -> None:
    wire = sign(extra_headers={"X-Amz-Content-SHA256": declared})
    with pytest.raises(InvalidSignatureException, match="'x-amz-content-sha256' header does not match"):
        wire.verify()


def test_content_sha256_matching_a_tampered_body_is_still_refused() -> None:
    wire = sign(extra_headers={"X-Amz-Content-SHA256": hashlib.sha256(PUT_ITEM).hexdigest()})
    other = b'{"TableName": "other"}'
    tampered = replace(wire, body=other).with_header("X-Amz-Content-SHA256", hashlib.sha256(other).hexdigest())
    with pytest.raises(InvalidSignatureException) as caught:
        tampered.verify()
    assert caught.value.message == MISMATCH


def test_non_ascii_signature_is_refused_not_crashed() -> None:
    wire = sign()
    authorization = wire.headers["Authorization"].rsplit("Signature=", 1)[0] + "Signature=ü"
    with pytest.raises(InvalidSignatureException):
        wire.with_header("Authorization", authorization).verify()


# -- properties ----------------------------------------------------------------------------------

_segment = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/?#"), min_size=1, max_size=8)
_paths = st.lists(_segment, max_size=4).map(lambda segments: "/" + "/".join(quote(s, safe="") for s in segments))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=512), path=_paths, data=st.data())
def test_botocore_signed_requests_always_verify_and_no_body_byte_can_change(
    body: bytes, path: str, data: st.DataObject
) -> None:
    wire = sign(body, path=path)
    assert wire.verify() == KEY_ID
    if body:
        index = data.draw(st.integers(0, len(body) - 1), label="index")
        byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]), label="byte")
        changed = body[:index] + bytes([byte]) + body[index + 1 :]
        with pytest.raises(InvalidSignatureException):
            replace(wire, body=changed).verify()


# -- credentials ---------------------------------------------------------------------------------


def test_load_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    lines = [
        "# grid credentials",
        "",
        "AKIDONE:secret/one+x",
        "   # indented comment",
        "  AKIDTWO : secret:with:colons  ",
    ]
    path.write_text("\n".join(lines) + "\n")
    assert load_credentials(path) == {"AKIDONE": "secret/one+x", "AKIDTWO": "secret:with:colons"}
    assert load_credentials(str(path)) == load_credentials(path)


def test_empty_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text("# nothing yet\n\n")
    assert load_credentials(path) == {}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("AKIDONE:secret\nno-colon-here\n", 2),
        ("# c\n\nAKIDONE:\n", 3),
        (":secret\n", 1),
        ("AKID ONE:secret\n", 1),
        ("AKIDONE:a\nAKIDONE:b\n", 2),
    ],
)
def test_malformed_credentials_line_is_named(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "credentials"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"line {line}\\b") as caught:
        load_credentials(path)
    assert "secret" not in str(caught.value).replace("SECRET", "")


def test_parse_credentials_text_names_its_source() -> None:
    with pytest.raises(ValueError, match="inline, line 1"):
        parse_credentials_text("bad", source="inline")


def test_credentials_from_env_single_pair() -> None:
    env = {"GRID_ACCESS_KEY_ID": "AKIDONE", "GRID_SECRET_ACCESS_KEY": "s1", "PATH": "/bin"}
    assert credentials_from_env(env) == {"AKIDONE": "s1"}


def test_credentials_from_env_list_and_pair() -> None:
    env = {
        "GRID_CREDENTIALS": "AKIDONE:s1, AKIDTWO:s2:x,",
        "GRID_ACCESS_KEY_ID": "AKIDTHREE",
        "GRID_SECRET_ACCESS_KEY": "s3",
    }
    assert credentials_from_env(env) == {"AKIDONE": "s1", "AKIDTWO": "s2:x", "AKIDTHREE": "s3"}


def test_credentials_from_env_empty() -> None:
    assert credentials_from_env({}) == {}


@pytest.mark.parametrize(
    "env",
    [
        {"GRID_ACCESS_KEY_ID": "AKIDONE"},
        {"GRID_SECRET_ACCESS_KEY": "s1"},
        {"GRID_CREDENTIALS": "AKIDONE:s1,broken"},
        {"GRID_CREDENTIALS": "AKIDONE:s1,AKIDONE:s2"},
        {"GRID_CREDENTIALS": "AKIDONE:s1", "GRID_ACCESS_KEY_ID": "AKIDONE", "GRID_SECRET_ACCESS_KEY": "s2"},
    ],
)
def test_credentials_from_env_refuses_inconsistent_settings(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        credentials_from_env(env)


def test_loaded_credentials_verify_a_signed_request(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text(f"{KEY_ID}:{SECRET}\n")
    assert sign().verify(credentials=load_credentials(path)) == KEY_ID
