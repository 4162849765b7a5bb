"""Link codes and linked identities against the real Redis, at a clock the test moves."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from bot.clock import FixedClock
from bot.conversation import Conversation, ConversationState
from bot.forget import forget_linked_customer
from bot.identity import (
    Identities,
    LinkCodes,
    LinkRefused,
    LockedOut,
    OwnCode,
    TooManyCodes,
    WrongCode,
)
from bot.identity.codes import MAX_BARE_PROBES
from bot.storage import Keys

START = 1_900_000_000.0


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def codes(redis_client: aioredis.Redis, key_prefix: str, clock: FixedClock) -> LinkCodes:
    return LinkCodes(redis_client, Keys(key_prefix), clock=clock)


@pytest.fixture
def identities(redis_client: aioredis.Redis, key_prefix: str) -> Identities:
    return Identities(redis_client, Keys(key_prefix))


async def test_a_code_is_six_digits_links_once_and_names_who_asked(codes: LinkCodes) -> None:
    issued = await codes.issue("line:U1")
    assert len(issued.code) == 6 and issued.code.isdigit()
    assert issued.expires_at == START + 600
    assert await codes.redeem(issued.code, "web:w_1") == "line:U1"
    with pytest.raises(WrongCode):
        await codes.redeem(issued.code, "web:w_2")  # single use


async def test_a_code_expires_after_ten_minutes(codes: LinkCodes, clock: FixedClock) -> None:
    issued = await codes.issue("line:U1")
    clock.advance(599)
    still = await codes.issue("line:U2")
    assert await codes.redeem(still.code, "web:w_1") == "line:U2"
    clock.advance(1)
    with pytest.raises(WrongCode):
        await codes.redeem(issued.code, "web:w_1")


async def test_typing_ones_own_code_links_nothing(codes: LinkCodes) -> None:
    issued = await codes.issue("web:w_1")
    with pytest.raises(OwnCode):
        await codes.redeem(issued.code, "web:w_1")


async def test_asking_for_codes_is_rate_limited(codes: LinkCodes, clock: FixedClock) -> None:
    for _ in range(5):
        await codes.issue("line:U1")
    with pytest.raises(TooManyCodes):
        await codes.issue("line:U1")
    await codes.issue("line:U2")  # others are not affected
    clock.advance(600)
    await codes.issue("line:U1")  # a new window


async def test_five_wrong_tries_lock_the_identity_out_even_of_a_right_code(
    codes: LinkCodes, clock: FixedClock
) -> None:
    issued = await codes.issue("line:U1")
    wrong = "000000" if issued.code != "000000" else "111111"
    for _ in range(4):
        with pytest.raises(WrongCode):
            await codes.redeem(wrong, "web:w_attacker")
    with pytest.raises(LockedOut):
        await codes.redeem(wrong, "web:w_attacker")
    with pytest.raises(LockedOut):
        await codes.redeem(issued.code, "web:w_attacker")
    # The code was not used up by the locked attempt; its owner's other device links.
    assert await codes.redeem(issued.code, "web:w_owner") == "line:U1"
    clock.advance(600)
    with pytest.raises(WrongCode):  # the window ended: tries again, one at a time
        await codes.redeem(wrong, "web:w_attacker")


async def test_malformed_codes_count_as_wrong_tries(codes: LinkCodes) -> None:
    for text in ("12345", "1234567", "１２３４５６", "abc123"):
        with pytest.raises(WrongCode):
            await codes.redeem(text, "web:w_1")
    with pytest.raises(LockedOut):
        await codes.redeem("12x456", "web:w_1")


async def test_bare_digits_are_a_code_only_when_one_is_live_for_another_identity(
    codes: LinkCodes, clock: FixedClock
) -> None:
    issued = await codes.issue("web:w_1")
    other = "000000" if issued.code != "000000" else "111111"
    assert await codes.is_live_for(issued.code, "line:U1")
    assert not await codes.is_live_for(issued.code, "web:w_1"), "one's own code"
    for _ in range(6):  # an order number, again and again: never a wrong try
        assert not await codes.is_live_for(other, "line:U1")
    assert await codes.redeem(issued.code, "line:U1") == "web:w_1", "not locked out"
    assert not await codes.is_live_for(issued.code, "line:U2"), "used up"
    late = await codes.issue("web:w_2")
    clock.advance(600)
    assert not await codes.is_live_for(late.code, "line:U2"), "expired"


async def test_bare_digit_lookups_are_capped_so_they_cannot_guess_codes(
    codes: LinkCodes, clock: FixedClock
) -> None:
    for guess in range(MAX_BARE_PROBES):
        await codes.is_live_for(f"{guess:06d}", "line:U_guesser")
    issued = await codes.issue("web:w_1")
    assert not await codes.is_live_for(issued.code, "line:U_guesser"), "no more look-ups"
    assert await codes.is_live_for(issued.code, "line:U_other")
    clock.advance(600)
    assert await codes.is_live_for(issued.code, "line:U_guesser") is False, "expired by now"
    fresh = await codes.issue("web:w_2")
    assert await codes.is_live_for(fresh.code, "line:U_guesser"), "a new window"


def _conversation(key: str, state: ConversationState, messages: int, at: float) -> Conversation:
    channel, _, user = key.partition(":")
    return Conversation(
        channel=channel,
        user_id=user,
        state=state,
        customer_messages=messages,
        updated_at=at,
    )


async def test_the_identity_with_the_live_conversation_becomes_the_profile_key(
    identities: Identities,
) -> None:
    stored = {
        "line:U1": _conversation("line:U1", ConversationState.QUEUED, 3, START),
        # The widget just greeted: newer, but nothing is going on there.
        "web:w_1": _conversation("web:w_1", ConversationState.BOT, 0, START + 60),
    }

    async def load(key: str) -> Conversation | None:
        return stored.get(key)

    assert await identities.link("web:w_1", "line:U1", load) == "line:U1"
    assert await identities.resolve("web:w_1") == "line:U1"
    assert await identities.resolve("line:U1") == "line:U1"
    profile = await identities.profile("web:w_1")
    assert profile.key == "line:U1"
    assert profile.identities == {"line": "line:U1", "web": "web:w_1"}
    # Linking again is a no-op; a second web account is refused until this one unlinks.
    assert await identities.link("line:U1", "web:w_1", load) == "line:U1"
    with pytest.raises(LinkRefused, match="web"):
        await identities.link("line:U1", "web:w_2", load)


async def test_unlinking_from_either_side_makes_two_customers_again(
    identities: Identities,
) -> None:
    async def nothing(key: str) -> Conversation | None:
        return None

    assert await identities.link("line:U1", "web:w_1", nothing) == "line:U1"
    await identities.set_vip("web:w_1", True)
    assert (await identities.profile("line:U1")).vip
    assert await identities.unlink("web:w_1")
    assert await identities.resolve("web:w_1") == "web:w_1"
    assert await identities.members("line:U1") == ["line:U1"]
    assert not await identities.unlink("web:w_1")

    await identities.link("line:U1", "web:w_1", nothing)
    assert await identities.unlink("line:U1")  # the profile key's side
    assert await identities.resolve("web:w_1") == "web:w_1"
    assert await identities.members("web:w_1") == ["web:w_1"]


async def test_forget_linked_erases_every_identity_and_the_link(
    identities: Identities, redis_client: aioredis.Redis, key_prefix: str
) -> None:
    keys = Keys(key_prefix)

    async def nothing(key: str) -> Conversation | None:
        return None

    await identities.link("line:U1", "web:w_1", nothing)
    for member in ("line:U1", "web:w_1", "line:U2"):
        await redis_client.hset(keys.conversation(member), mapping={"doc": "{}", "id": member})
    erased = await forget_linked_customer(redis_client, keys, "web:w_1")
    assert sorted(done.customer_key for done in erased) == ["line:U1", "web:w_1"]
    assert not await redis_client.exists(keys.conversation("line:U1"), keys.conversation("web:w_1"))
    assert await redis_client.exists(keys.conversation("line:U2")), "nobody else"
    assert await identities.members("line:U1") == ["line:U1"]
    assert await identities.resolve("web:w_1") == "web:w_1"
