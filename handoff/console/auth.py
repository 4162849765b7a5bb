"""Who may use the console: the admin token (plus a typed name) or a per-agent token."""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import unquote

from fastapi import Header, HTTPException, status
from redis.asyncio import Redis

from bot.actor import Actor

log = logging.getLogger("tsunagu.console")

MAX_NAME_LENGTH = 40
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


class BadName(ValueError):
    """The typed display name is unusable."""


@dataclass(frozen=True)
class Agent:
    """The person behind a request. `name` is None for an admin who has not typed one yet."""

    name: str | None
    via: Literal["agent_token", "admin_token"]

    @property
    def actor(self) -> Actor | None:
        """Their identity: `console:<token name>`, or `admin:<typed name>` (None untyped)."""
        if self.name is None:
            return None
        if self.via == "agent_token":
            return Actor.console(self.name)
        return Actor.admin(self.name)


def clean_name(raw: str | None) -> str | None:
    """The display name from the `X-Agent-Name` header (percent-encoded UTF-8), or None."""
    if raw is None:
        return None
    try:
        if _STRAY_PERCENT.search(raw):
            raise ValueError("a '%' not followed by two hex digits")
        decoded = unquote(raw, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadName("the name is not valid percent-encoded UTF-8") from exc
    name = unicodedata.normalize("NFC", decoded).strip()
    if not name:
        return None
    if len(name) > MAX_NAME_LENGTH:
        raise BadName(f"the name is longer than {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise BadName("the name contains control characters")
    return name


class ConsoleAuth:
    """Checks bearer tokens against `ADMIN_TOKEN` and `AGENT_TOKENS`.

    An unset `ADMIN_TOKEN` is generated once and kept in Redis, so every process of one
    deployment accepts the same token; `start` must run before the first request.
    """

    def __init__(
        self,
        redis: Redis,
        key: str,
        admin_token: str | None,
        agent_tokens: dict[str, str],
    ):
        self._redis = redis
        self._key = key
        self._configured = admin_token or None
        self._admin: str | None = self._configured
        self._agents = [(name, token) for name, token in agent_tokens.items() if token]

    @property
    def generated(self) -> bool:
        """True when the admin token was generated rather than configured."""
        return self._configured is None

    @property
    def admin_token(self) -> str:
        """The admin token in force (after `start`)."""
        if self._admin is None:
            raise RuntimeError("the agent console was used before start-up resolved its token")
        return self._admin

    async def start(self) -> str:
        """Resolve the admin token: the configured one, or the one shared through Redis."""
        if self._configured is None:
            await self._redis.set(self._key, secrets.token_urlsafe(32), nx=True)
            self._admin = str(await self._redis.get(self._key))
        return self.admin_token

    def identify(self, authorization: str | None, typed_name: str | None) -> Agent | None:
        """The agent a `Bearer` header names, or None when the token is missing or wrong."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or self._admin is None:
            return None
        supplied = token.encode()
        # Compare against every token, so timing says nothing about which one matched.
        matched: str | None = None
        for name, expected in self._agents:
            if hmac.compare_digest(supplied, expected.encode()) and matched is None:
                matched = name
        is_admin = hmac.compare_digest(supplied, self._admin.encode())
        if matched is not None:
            return Agent(matched, "agent_token")
        if is_admin:
            typed = clean_name(typed_name)
            if typed is not None and any(typed == agent for agent, _ in self._agents):
                # Its id would differ, but customers and colleagues would see that agent.
                raise BadName(f"'{typed}' is the name of an agent token; type your own name")
            return Agent(typed, "admin_token")
        return None


def admin_dependency(auth: ConsoleAuth) -> Callable[[str | None], Awaitable[None]]:
    """A FastAPI dependency that lets through only the admin token (for /admin)."""

    async def require_admin(authorization: Annotated[str | None, Header()] = None) -> None:
        agent = auth.identify(authorization, None)
        if agent is None or agent.via != "admin_token":
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "the admin token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_admin


def agent_dependency(auth: ConsoleAuth) -> Callable[[str | None, str | None], Agent]:
    """A FastAPI dependency that identifies the signed-in agent (agent or admin token)."""

    def current_agent(
        authorization: Annotated[str | None, Header()] = None,
        x_agent_name: Annotated[
            str | None,
            Header(description="With the admin token: the agent's name, percent-encoded UTF-8."),
        ] = None,
    ) -> Agent:
        try:
            agent = auth.identify(authorization, x_agent_name)
        except BadName as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
        if agent is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "expected 'Authorization: Bearer <admin or agent token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return agent

    return current_agent
