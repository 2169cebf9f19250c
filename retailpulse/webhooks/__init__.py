"""Completion webhooks as Standard Webhooks (https://www.standardwebhooks.com) defines them:
the signature, the retry schedule and the HTTP sender. ``retailpulse.actors.webhooks``
decides when to send; this package only knows how."""

from retailpulse.webhooks.schedule import DEFAULT_SCHEDULE, GIVE_UP_AFTER, JITTER, next_attempt
from retailpulse.webhooks.sending import (
    ATTEMPT_LIMIT,
    HttpWebhookSender,
    PostResult,
    WebhookSender,
)
from retailpulse.webhooks.signing import (
    SECRET_ENV,
    SECRET_PREFIX,
    WebhookSecretError,
    WebhookSigner,
)

__all__ = [
    "ATTEMPT_LIMIT",
    "DEFAULT_SCHEDULE",
    "GIVE_UP_AFTER",
    "JITTER",
    "SECRET_ENV",
    "SECRET_PREFIX",
    "HttpWebhookSender",
    "PostResult",
    "WebhookSecretError",
    "WebhookSender",
    "WebhookSigner",
    "next_attempt",
]
