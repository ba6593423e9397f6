"""AWS Signature Version 4 verification for grid's DynamoDB-compatible HTTP endpoint.

The endpoint accepts requests signed exactly as botocore (and so boto3, the AWS
CLI and every AWS SDK) signs them for DynamoDB: the canonical request, the
string to sign and the derived signing key are recomputed here from the
secret the server knows, and the two signatures compared in constant time.

DynamoDB Streams requests are accepted under the same service name:
botocore's ``dynamodbstreams`` model declares ``signingName: dynamodb``, so a
boto3 streams client signs with the scope ``.../<region>/dynamodb/aws4_request``.
Any region is accepted; grid has no regions.

Refusals raise grid's errors with DynamoDB's codes and wording, so a boto3 user
sees the ``ClientError`` they would see from AWS.

Credentials are a plain mapping from access key id to secret access key, loaded
with :func:`load_credentials` (a file) or :func:`credentials_from_env`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, unquote_plus

from grid.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

__all__ = [
    "ALGORITHM",
    "MAX_CLOCK_SKEW",
    "SERVICE",
    "credentials_from_env",
    "load_credentials",
    "parse_credentials_text",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "dynamodb"
MAX_CLOCK_SKEW = timedelta(minutes=15)

_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_TERMINATOR = "aws4_request"

_MISSING_TOKEN = "Request is missing Authentication Token"
_UNKNOWN_KEY = "The security token included in the request is invalid."
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


# -- credentials ---------------------------------------------------------------------------------


def parse_credentials_text(text: str, *, source: str = "<credentials>") -> dict[str, str]:
    """Parse lines of ``ACCESS_KEY_ID:SECRET_ACCESS_KEY`` into a mapping.

    Blank lines and lines starting with ``#`` are ignored; surrounding
    whitespace is stripped. The secret is everything after the first colon.

    Raises:
        ValueError: a line has no colon, an empty id or secret, whitespace
            inside the id, or repeats an id; the message names ``source`` and
            the 1-based line number (never the secret).
    """
    credentials: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key_id, secret = _split_pair(line, where=f"{source}, line {number}")
        if key_id in credentials:
            raise ValueError(f"{source}, line {number}: access key id {key_id!r} is listed twice")
        credentials[key_id] = secret
    return credentials


def load_credentials(path: str | Path) -> dict[str, str]:
    """Read a credentials file (see :func:`parse_credentials_text` for the format).

    Example::

        # grid-credentials
        AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY

    Raises:
        OSError: the file cannot be read.
        ValueError: a line is malformed; the message names the line number.
    """
    return parse_credentials_text(Path(path).read_text(encoding="utf-8"), source=str(path))


def credentials_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Credentials named by environment variables.

    ``GRID_ACCESS_KEY_ID`` with ``GRID_SECRET_ACCESS_KEY`` give one pair;
    ``GRID_CREDENTIALS="id1:secret1,id2:secret2"`` gives several. Both forms
    may be combined. Empty when none is set.

    Raises:
        ValueError: only one of the pair is set, an entry of
            ``GRID_CREDENTIALS`` is malformed, or an id is given twice.
    """
    credentials: dict[str, str] = {}
    entries = [entry.strip() for entry in environ.get("GRID_CREDENTIALS", "").split(",")]
    for position, entry in enumerate(entries, start=1):
        if not entry:
            continue
        key_id, secret = _split_pair(entry, where=f"GRID_CREDENTIALS, entry {position}")
        if key_id in credentials:
            raise ValueError(f"GRID_CREDENTIALS, entry {position}: access key id {key_id!r} is listed twice")
        credentials[key_id] = secret

    key_id = environ.get("GRID_ACCESS_KEY_ID", "").strip()
    secret = environ.get("GRID_SECRET_ACCESS_KEY", "").strip()
    if bool(key_id) != bool(secret):
        raise ValueError("GRID_ACCESS_KEY_ID and GRID_SECRET_ACCESS_KEY must be set together")
    if key_id:
        if key_id in credentials and credentials[key_id] != secret:
            raise ValueError(f"GRID_ACCESS_KEY_ID {key_id!r} is also in GRID_CREDENTIALS with another secret")
        credentials[key_id] = secret
    return credentials


def _split_pair(entry: str, *, where: str) -> tuple[str, str]:
    key_id, colon, secret = entry.partition(":")
    key_id, secret = key_id.strip(), secret.strip()
    if not colon or not key_id or not secret or any(c.isspace() for c in key_id):
        # The entry itself may hold a secret, so the message shows only where it is.
        raise ValueError(f"{where}: expected ACCESS_KEY_ID:SECRET_ACCESS_KEY")
    return key_id, secret


# -- verification --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Authorization:
    """The parts of an ``Authorization: AWS4-HMAC-SHA256 ...`` header."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{_TERMINATOR}"


def verify(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
    *,
    now: datetime | None = None,
) -> str:
    """Check a request's SigV4 signature; return the access key id that signed it.

    ``path`` and ``query`` are as they appear on the request line (still
    percent-encoded, query without ``?``): aiohttp's ``request.raw_path``
    split at the first ``?``. ``headers`` may be any mapping; names are
    matched case-insensitively, and a multi-mapping whose ``items()`` yields a
    name more than once (aiohttp's ``CIMultiDictProxy``) has its values joined
    with commas, as the signer did. ``now`` defaults to the current UTC time;
    a naive ``now`` is taken as UTC.

    The check never depends on where the secrets match: signatures are
    compared with :func:`hmac.compare_digest`.

    Raises:
        MissingAuthenticationTokenException: no ``Authorization`` header.
        IncompleteSignatureException: the header lacks ``Credential``,
            ``SignedHeaders`` or ``Signature``, uses another algorithm, has a
            malformed credential scope, does not sign ``host``, or
            ``X-Amz-Date`` is missing or malformed.
        UnrecognizedClientException: the access key id is unknown.
        InvalidSignatureException: the scope names another service or another
            date than ``X-Amz-Date``, the request is more than 15 minutes
            from ``now``, ``X-Amz-Content-Sha256`` does not match the body, or
            the signature does not match.

    Example::

        key_id = verify("POST", "/", "", request.headers, body, {"AKID": "secret"})
    """
    lowered = _lowercase_headers(headers)
    header = lowered.get("authorization", "").strip()
    if not header:
        raise MissingAuthenticationTokenException(_MISSING_TOKEN)
    auth = _parse_authorization(header)
    timestamp, signed_at = _request_time(lowered)
    _check_scope(auth, timestamp)

    secret = credentials.get(auth.access_key_id)
    if secret is None:
        raise UnrecognizedClientException(_UNKNOWN_KEY)
    _check_clock_skew(timestamp, signed_at, now)

    payload_hash = hashlib.sha256(body).hexdigest()
    declared = lowered.get("x-amz-content-sha256")
    if declared is not None:
        # UNSIGNED-PAYLOAD is refused too: DynamoDB bodies are always signed.
        if not _same(declared.lower(), payload_hash):
            raise InvalidSignatureException(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        # The signer hashed the header's text, not its own digest of the body.
        payload_hash = declared

    request = _canonical_request(method, path, query, lowered, auth.signed_headers, payload_hash)
    to_sign = _string_to_sign(timestamp, auth.scope, request)
    key = _signing_key(secret, auth.date, auth.region, auth.service)
    expected = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not _same(expected, auth.signature.lower()):
        raise InvalidSignatureException(_MISMATCH)
    return auth.access_key_id


def _canonical_request(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    payload_hash: str,
) -> str:
    """SigV4's canonical request; ``headers`` must have lowercase names.

    A signed header the request lacks contributes an empty value, so the
    signature cannot match rather than the request being refused differently.
    """
    lines = [
        method.upper(),
        _canonical_uri(path),
        _canonical_query(query),
        "".join(f"{name}:{_trim(headers.get(name, ''))}\n" for name in signed_headers),
        ";".join(signed_headers),
        payload_hash,
    ]
    return "\n".join(lines)


def _string_to_sign(timestamp: str, scope: str, request: str) -> str:
    digest = hashlib.sha256(request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, _TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def _same(left: str, right: str) -> bool:
    """Constant-time equality; as bytes, since compare_digest refuses non-ASCII text."""
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))


def _lowercase_headers(headers: Mapping[str, str]) -> dict[str, str]:
    lowered: dict[str, str] = {}
    for raw_name, value in headers.items():
        name = raw_name.lower().strip()
        # Repeated headers are joined as the signer joined them: trimmed values, commas.
        lowered[name] = f"{lowered[name]},{_trim(value)}" if name in lowered else _trim(value)
    return lowered


def _trim(value: str) -> str:
    return " ".join(value.split())


def _parse_authorization(header: str) -> _Authorization:
    algorithm, _, rest = header.partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(
            f"Unsupported Authorization Type: {algorithm!r}; only {ALGORITHM} is accepted."
        )
    parts: dict[str, str] = {}
    # Parts are separated by commas and/or whitespace; a stray space inside a part
    # (a pasted key id ending in a blank) leaves a piece without "=".
    for item in re.split(r"[,\s]+", rest):
        if not item:
            continue
        name, equals, value = item.partition("=")
        if not equals:
            raise IncompleteSignatureException(
                f"'{item}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."
            )
        parts[name.strip()] = value.strip()
    missing = [name for name in ("Credential", "Signature", "SignedHeaders") if not parts.get(name)]
    if missing:
        complaints = " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
        raise IncompleteSignatureException(f"{complaints} Authorization={header}")

    credential = parts["Credential"]
    scope = credential.split("/")
    if len(scope) != 5 or not all(scope):
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{credential}'"
        )
    signed = tuple(parts["SignedHeaders"].split(";"))
    if "host" not in signed:
        raise IncompleteSignatureException("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    key_id, date, region, service, terminator = scope
    if terminator != _TERMINATOR:
        raise InvalidSignatureException(
            f"Credential should be scoped with a valid terminator: '{_TERMINATOR}', not '{terminator}'."
        )
    return _Authorization(
        access_key_id=key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=signed,
        signature=parts["Signature"],
    )


def _request_time(headers: Mapping[str, str]) -> tuple[str, datetime]:
    timestamp = headers.get("x-amz-date", "").strip()
    if not timestamp:
        raise IncompleteSignatureException(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    malformed = IncompleteSignatureException(
        f"Date must be in ISO-8601 'basic format'. Got '{timestamp}'. See http://en.wikipedia.org/wiki/ISO_8601"
    )
    # strptime accepts single-digit fields; the basic format is exactly 16 characters.
    if len(timestamp) != 16:
        raise malformed
    try:
        return timestamp, datetime.strptime(timestamp, _TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise malformed from None


def _check_scope(auth: _Authorization, timestamp: str) -> None:
    if auth.service != SERVICE:
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{SERVICE}'.")
    if auth.date != timestamp[:8]:
        raise InvalidSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{auth.date}' != '{timestamp[:8]}', from '{timestamp}'."
        )


def _check_clock_skew(timestamp: str, signed_at: datetime, now: datetime | None) -> None:
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    if signed_at < now - MAX_CLOCK_SKEW:
        earliest = (now - MAX_CLOCK_SKEW).strftime(_TIMESTAMP_FORMAT)
        raise InvalidSignatureException(
            f"Signature expired: {timestamp} is now earlier than {earliest} "
            f"({now.strftime(_TIMESTAMP_FORMAT)} - 15 min.)"
        )
    if signed_at > now + MAX_CLOCK_SKEW:
        latest = (now + MAX_CLOCK_SKEW).strftime(_TIMESTAMP_FORMAT)
        raise InvalidSignatureException(
            f"Signature not yet current: {timestamp} is still later than {latest} "
            f"({now.strftime(_TIMESTAMP_FORMAT)} + 15 min.)"
        )


def _canonical_uri(path: str) -> str:
    """The path with dot segments and empty segments removed, then URI-encoded.

    Services other than S3 encode the path as received (already
    percent-encoded) once more, so ``%20`` on the wire signs as ``%2520``;
    botocore does the same.
    """
    if not path:
        return "/"
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    leading = "/" if path.startswith("/") else ""
    trailing = "/" if path.endswith("/") and segments else ""
    return quote(leading + "/".join(segments) + trailing, safe="/~")


def _canonical_query(query: str) -> str:
    """Parameters decoded, re-encoded with SigV4's unreserved set, and sorted.

    ``+`` decodes to a space: botocore sends form-encoded parameters
    (``x+y``) but signs them percent-encoded (``x%20y``).
    """
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((_encode_query_part(name), _encode_query_part(value)))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _encode_query_part(part: str) -> str:
    return quote(unquote_plus(part), safe="-_.~")
