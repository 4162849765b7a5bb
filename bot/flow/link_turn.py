"""Linking channels from inside a conversation: ask for a code, type one, unlink.

On any channel, 「連携コード」 / "link code" gets a one-time code to type on another
channel; 「連携 123456」 typed here links this channel with the one that asked for it (six
digits sent alone do only when they are a live code: otherwise they are any text); and
「連携解除」 / "unlink" detaches this channel. The code never enters the transcript agents
read.
"""

from __future__ import annotations

from bot import intents
from bot.flow.builder import StepBuilder
from bot.flow.context import FlowContext
from bot.identity import LinkCodeError, LinkRefused
from bot.identity.codes import LINK_CODE_TTL_SECONDS
from bot.model import InboundKind, Reply, ReplyKind

HIDDEN_CODE = "••••••"


async def link_turn(ctx: FlowContext, b: StepBuilder) -> bool:
    """Handle a linking request; False when the message is about something else."""
    linking, inbound = ctx.linking, b.inbound
    if linking is None or inbound.kind is not InboundKind.TEXT:
        return False
    identity = inbound.customer_key
    minutes = LINK_CODE_TTL_SECONDS // 60
    if intents.asks_for_link_code(inbound.text):
        try:
            issued = await linking.request_code(identity)
        except LinkCodeError:
            b.say("link_too_many_codes", ReplyKind.NOTICE)
            return True
        text = b.text("link_code", code=issued.code, minutes=minutes)
        b.reply(Reply(text=text, kind=ReplyKind.NOTICE))
        b.step.transcript[-1].text = b.text("link_code_issued", minutes=minutes)
        return True
    if intents.asks_to_unlink(inbound.text):
        unlinked = await linking.unlink(identity)
        b.say("unlink_done" if unlinked else "unlink_none", ReplyKind.NOTICE)
        return True
    typed = intents.typed_code(inbound.text)
    if typed is None:
        return False
    code, explicit = typed
    # A web message carries its client address: guesses are capped per address there too.
    origin = inbound.origin
    if not explicit and not await linking.codes.is_live_for(code, identity, address=origin):
        return False  # six digits alone that are no live code: an order number, say
    b.step.transcript[-1].text = HIDDEN_CODE  # the customer's line: no code for agents
    try:
        await linking.redeem(code, identity, address=origin)
    except LinkCodeError as exc:
        b.say(f"link_{exc.reason}", ReplyKind.NOTICE)
        return True
    except LinkRefused as exc:
        b.say("link_refused", ReplyKind.NOTICE, reason=str(exc))
        return True
    b.say("link_done", ReplyKind.NOTICE)
    return True
