"""AWS Signature Version 4, by hand: the SES adapter's only need for an AWS SDK.

Follows https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html:
canonical request -> string to sign -> signing key (an HMAC chain over date, region, service)
-> signature, sent in the ``Authorization`` header with ``x-amz-date`` (and
``x-amz-security-token`` for temporary credentials). Checked against AWS's published examples
in the tests.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    region: str,
    service: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers to add to the request: ``x-amz-date``, the session token if any, ``Authorization``.

    ``headers`` are the request's headers to sign besides those; they must include ``host``
    exactly as it will be sent (with the port when it is not the default).
    """
    amz_date = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    added = {"x-amz-date": amz_date}
    if session_token:
        added["x-amz-security-token"] = session_token
    parts = urlsplit(url)
    request, signed_headers = canonical_request(method, parts.path, parts.query, {**headers, **added}, body)
    scope = credential_scope(amz_date[:8], region, service)
    signature = hmac.new(
        signing_key(secret_access_key, amz_date[:8], region, service),
        string_to_sign(amz_date, scope, request).encode(),
        hashlib.sha256,
    ).hexdigest()
    added["Authorization"] = (
        f"{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )
    return added


def canonical_request(
    method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
) -> tuple[str, str]:
    """The canonical request text and its signed-headers list."""
    # The path as sent is encoded once more (every service but S3 double-encodes).
    canonical_uri = quote(path or "/", safe="/~")
    pairs = sorted(
        (quote(key, safe="-_.~"), quote(value, safe="-_.~"))
        for key, value in parse_qsl(query, keep_blank_values=True)
    )
    canonical_query = "&".join(f"{key}={value}" for key, value in pairs)
    normalized = sorted((name.lower().strip(), " ".join(str(value).split())) for name, value in headers.items())
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in normalized)
    signed_headers = ";".join(name for name, _ in normalized)
    payload_hash = hashlib.sha256(body).hexdigest()
    text = "\n".join([method.upper(), canonical_uri, canonical_query, canonical_headers, signed_headers, payload_hash])
    return text, signed_headers


def credential_scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/aws4_request"


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])


def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret_access_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
