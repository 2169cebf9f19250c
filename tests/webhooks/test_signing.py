"""Signatures as Standard Webhooks defines them, checked against its published vector."""

import pytest

from retailpulse.webhooks import WebhookSecretError, WebhookSigner

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_the_published_standard_webhooks_vector_is_reproduced() -> None:
    signer = WebhookSigner.from_secret(VECTOR_SECRET)

    signature = signer.signature(
        "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_headers_carry_id_timestamp_and_signature() -> None:
    signer = WebhookSigner.from_secret(VECTOR_SECRET)

    headers = signer.headers("msg_1", 1700000000, b"{}")

    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"] == signer.signature("msg_1", 1700000000, b"{}")
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ="]
)
def test_a_malformed_or_short_secret_is_refused(secret: str) -> None:
    with pytest.raises(WebhookSecretError, match="webhook secret"):
        WebhookSigner.from_secret(secret)


def test_the_key_never_shows_in_a_repr() -> None:
    signer = WebhookSigner.from_secret(VECTOR_SECRET)

    assert "MfKQ" not in repr(signer)
    assert repr(signer.key) not in repr(signer)
