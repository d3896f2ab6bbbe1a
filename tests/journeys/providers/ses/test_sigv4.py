"""The hand-written SigV4 signer against AWS's published examples.

Vectors: the IAM ListUsers example of the Signature Version 4 documentation (with its
documented intermediate values), and two cases of the Signature Version 4 test suite
(get-vanilla, get-vanilla-query-order-key-case); all with the documented example credentials.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from journeys.providers.ses import sigv4

ACCESS_KEY_ID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
WHEN = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
CREDENTIALS = {"access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET, "now": WHEN}


def test_the_documented_iam_list_users_example() -> None:
    headers = {"Host": "iam.amazonaws.com", "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    url = "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08"

    canonical, signed = sigv4.canonical_request("GET", "/", "Action=ListUsers&Version=2010-05-08",
                                                {**headers, "X-Amz-Date": "20150830T123600Z"}, b"")
    assert signed == "content-type;host;x-amz-date"
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    )
    assert sigv4.signing_key(SECRET, "20150830", "us-east-1", "iam").hex() == (
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    )
    added = sigv4.sign("GET", url, headers, b"", region="us-east-1", service="iam", **CREDENTIALS)  # type: ignore[arg-type]
    assert added == {
        "x-amz-date": "20150830T123600Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    }


def test_suite_get_vanilla() -> None:
    added = sigv4.sign("GET", "https://example.amazonaws.com/", {"host": "example.amazonaws.com"}, b"",
                       region="us-east-1", service="service", **CREDENTIALS)  # type: ignore[arg-type]
    assert added["Authorization"].endswith(
        "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_suite_get_vanilla_query_order_key_case() -> None:
    added = sigv4.sign("GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1",
                       {"host": "example.amazonaws.com"}, b"",
                       region="us-east-1", service="service", **CREDENTIALS)  # type: ignore[arg-type]
    assert added["Authorization"].endswith(
        "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
    )


def test_a_session_token_is_sent_and_signed() -> None:
    added = sigv4.sign("POST", "https://email.us-east-1.amazonaws.com/v2/email/outbound-emails",
                       {"host": "email.us-east-1.amazonaws.com"}, b"{}", region="us-east-1", service="ses",
                       session_token="TOKEN", **CREDENTIALS)  # type: ignore[arg-type]
    assert added["x-amz-security-token"] == "TOKEN"
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in added["Authorization"]
