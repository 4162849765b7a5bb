"""The web side of linking channels: `POST /web/link-code`, `POST /web/link`,
`DELETE /web/link`, and how a refused link is answered over HTTP."""

from __future__ import annotations

import unicodedata

from fastapi import HTTPException, status
from pydantic import BaseModel, Field

from bot.channel_catalog import ChannelCatalog
from bot.identity import LinkCodeError, Linking, LinkRefused, LockedOut, TooManyCodes
from bot.identity.codes import LINK_CODE_TTL_SECONDS
from bot.identity.links import channel_of

LINK_PROBLEMS = {
    "wrong_code": "the code is not valid or has expired",
    "own_code": "this code was made here: enter it on your other channel",
    "locked": "too many wrong codes: try again later",
    "too_many_codes": "too many codes asked for: try again later",
}


class LinkRequest(BaseModel):
    """Body of `POST /web/link`: the code the customer got on their other channel."""

    code: str = Field(min_length=1, max_length=20, examples=["123456"])


class LinkCode(BaseModel):
    """A one-time code for the customer to type on their other channel (on LINE, say)."""

    code: str
    expires_in: int = LINK_CODE_TTL_SECONDS


class Linked(BaseModel):
    """The channels this web customer is linked with now."""

    linked: bool
    channels: list[str]
    labels: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='How each of those channels is named: {"line": {"ja": "LINE", "en": "LINE"}}.',
    )


def _refusal(exc: LinkCodeError | LinkRefused) -> HTTPException:
    if isinstance(exc, LinkRefused):
        return HTTPException(status.HTTP_409_CONFLICT, str(exc))
    code = (
        status.HTTP_429_TOO_MANY_REQUESTS
        if isinstance(exc, LockedOut | TooManyCodes)
        else status.HTTP_400_BAD_REQUEST
    )
    return HTTPException(code, LINK_PROBLEMS.get(exc.reason, exc.reason))


async def issue_code(linking: Linking, customer_key: str) -> LinkCode:
    """A code for `customer_key`; 429 over the rate limit."""
    try:
        issued = await linking.request_code(customer_key)
    except LinkCodeError as exc:
        raise _refusal(exc) from exc
    return LinkCode(code=issued.code)


async def redeem_code(
    linking: Linking, customer_key: str, code: str, catalog: ChannelCatalog, address: str
) -> Linked:
    """Link `customer_key` with the identity that asked for `code`.

    400 for a wrong, expired, used or own code; 429 once locked out; 409 when the other
    side is already linked to another web customer. Wrong tries count against the
    customer and against the client `address` (new conversations buy no new guesses).
    """
    # Full-width digits and spaces (typed with a Japanese keyboard) are the same code.
    digits = "".join(unicodedata.normalize("NFKC", code).split())
    try:
        await linking.redeem(digits, customer_key, address=address)
    except (LinkCodeError, LinkRefused) as exc:
        raise _refusal(exc) from exc
    return await linked(linking, customer_key, catalog)


async def linked(linking: Linking, customer_key: str, catalog: ChannelCatalog) -> Linked:
    """Which channels `customer_key` is linked with, and their labels."""
    members = await linking.identities.members(customer_key)
    channels = sorted({channel_of(m) for m in members})
    labels = {c: {"ja": catalog.label(c, "ja"), "en": catalog.label(c, "en")} for c in channels}
    return Linked(linked=len(members) > 1, channels=channels, labels=labels)
