"""Signed, expiring web tokens: each names one web customer."""

from __future__ import annotations

import secrets

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from redis.asyncio import Redis


class TokenError(Exception):
    """The token is missing, tampered with or expired."""


class WebTokens:
    """Issues and checks the bearer tokens of the web API.

    The secret may live in Redis, so it is set at start-up (`use_secret`), not here.
    """

    def __init__(self, ttl_seconds: int, secret: str | None = None):
        self.ttl_seconds = ttl_seconds
        self._serializer: URLSafeTimedSerializer | None = None
        if secret:
            self.use_secret(secret)

    def use_secret(self, secret: str) -> None:
        """Sign and check with `secret` from now on."""
        self._serializer = URLSafeTimedSerializer(secret, salt="tsunagu.web.v1")

    @property
    def _signer(self) -> URLSafeTimedSerializer:
        if self._serializer is None:
            raise RuntimeError("web tokens used before start-up set their secret")
        return self._serializer

    def issue(self, user_id: str) -> str:
        """A token for `user_id`, valid for `ttl_seconds`."""
        return self._signer.dumps({"u": user_id})

    def verify(self, token: str | None) -> str:
        """The user id a valid token names; raises `TokenError` otherwise."""
        if not token:
            raise TokenError("missing token")
        try:
            data = self._signer.loads(token, max_age=self.ttl_seconds)
        except SignatureExpired as exc:
            raise TokenError("token expired") from exc
        except BadSignature as exc:
            raise TokenError("invalid token") from exc
        if not isinstance(data, dict) or not isinstance(data.get("u"), str):
            raise TokenError("invalid token")
        return data["u"]

    @staticmethod
    def new_user_id() -> str:
        """A fresh, unguessable web customer id."""
        return "w_" + secrets.token_hex(12)


async def shared_secret(redis: Redis, key: str, configured: str | None) -> str:
    """`SECRET_KEY` if set; otherwise one generated once and shared by all processes."""
    if configured:
        return configured
    await redis.set(key, secrets.token_urlsafe(48), nx=True)
    value = await redis.get(key)
    return str(value)
