"""Signing a webhook the Standard Webhooks way.

The secret is ``whsec_`` and base64 bytes; the key is those bytes. Each message is
signed as ``HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")`` and sent as
``webhook-signature: v1,<base64 of the digest>``, so any Standard Webhooks library can
verify it, and a receiver can refuse stale timestamps (replays).
"""

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field

__all__ = ["SECRET_ENV", "SECRET_PREFIX", "WebhookSecretError", "WebhookSigner"]

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_ENV = "RETAILPULSE_WEBHOOK_SECRET"  # noqa: S105 - a variable name
MIN_KEY_BYTES = 24
"""Standard Webhooks asks for 24 to 64 random bytes."""


class WebhookSecretError(ValueError):
    """The webhook secret is not ``whsec_`` and base64 of enough bytes."""


@dataclass(frozen=True, slots=True)
class WebhookSigner:
    """Signs webhooks with one key. Its ``repr`` hides the key: it is never logged."""

    key: bytes = field(repr=False)

    @classmethod
    def from_secret(cls, secret: str) -> "WebhookSigner":
        text = secret.strip()
        if not text.startswith(SECRET_PREFIX):
            raise WebhookSecretError(f"the webhook secret must start with {SECRET_PREFIX}")
        try:
            key = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise WebhookSecretError(
                f"the webhook secret must be {SECRET_PREFIX} and base64"
            ) from None
        if len(key) < MIN_KEY_BYTES:
            raise WebhookSecretError(
                f"the webhook secret must hold at least {MIN_KEY_BYTES} bytes, not {len(key)}"
            )
        return cls(key)

    def signature(self, webhook_id: str, timestamp: int, body: bytes) -> str:
        signed = f"{webhook_id}.{timestamp}.".encode() + body
        digest = hmac.new(self.key, signed, hashlib.sha256).digest()
        return "v1," + base64.b64encode(digest).decode("ascii")

    def headers(self, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        """The three Standard Webhooks headers and the content type."""
        return {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self.signature(webhook_id, timestamp, body),
        }
