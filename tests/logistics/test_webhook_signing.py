import base64
import hashlib
import hmac

import pytest

from logistics import webhook_signing
from logistics.webhook_signing import WebhookVerificationError

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def test_signature_matches_the_standard_webhooks_construction():
    body = b'{"a":1}'
    expected = base64.b64encode(
        hmac.new(
            b"0123456789abcdef0123456789abcdef", b"msg_1.1700000000." + body, hashlib.sha256
        ).digest()
    ).decode()
    assert (
        webhook_signing.signature(secret=SECRET, msg_id="msg_1", timestamp=1700000000, body=body)
        == f"v1,{expected}"
    )


def test_verify_accepts_a_fresh_signed_message_and_returns_its_id():
    headers = webhook_signing.sign_headers(secret=SECRET, body=b"{}", msg_id="msg_ok")
    assert webhook_signing.verify(secret=SECRET, headers=headers, body=b"{}") == "msg_ok"


def test_verify_accepts_any_of_several_signatures_for_secret_rotation():
    headers = webhook_signing.sign_headers(secret=SECRET, body=b"{}")
    headers["webhook-signature"] = "v1,bm90LWl0 " + headers["webhook-signature"]
    assert webhook_signing.verify(secret=SECRET, headers=headers, body=b"{}")


def test_verify_refuses_a_tampered_body():
    headers = webhook_signing.sign_headers(secret=SECRET, body=b'{"a":1}')
    with pytest.raises(WebhookVerificationError, match="bad_signature"):
        webhook_signing.verify(secret=SECRET, headers=headers, body=b'{"a":2}')


def test_verify_refuses_a_timestamp_older_than_five_minutes():
    headers = webhook_signing.sign_headers(secret=SECRET, body=b"{}", timestamp=1_000_000)
    with pytest.raises(WebhookVerificationError, match="timestamp_outside_tolerance"):
        webhook_signing.verify(secret=SECRET, headers=headers, body=b"{}", now=1_000_301)


def test_verify_accepts_a_timestamp_within_five_minutes():
    headers = webhook_signing.sign_headers(secret=SECRET, body=b"{}", timestamp=1_000_000)
    assert webhook_signing.verify(secret=SECRET, headers=headers, body=b"{}", now=1_000_299)


def test_a_non_base64_secret_is_used_as_text_on_both_sides():
    headers = webhook_signing.sign_headers(secret="whsec_test_1", body=b"{}")
    assert webhook_signing.verify(secret="whsec_test_1", headers=headers, body=b"{}")
