"""How the Slack desk's messages look: Block Kit pieces, state lines and notes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from bot.actor import SLACK, Actor
from bot.conversation import Conversation, ConversationState, DeskEvent, TranscriptEntry
from bot.flow.agent_turn import AgentAction
from handoff.agents import ActionResult
from handoff.suggestions import Suggestions

CLAIM, RELEASE, CLOSE = "tsunagu_claim", "tsunagu_release", "tsunagu_close"
TAKEOVER, FOLLOW_UP = "tsunagu_takeover", "tsunagu_follow_up"
ACTIONS: dict[str, AgentAction] = {
    CLAIM: AgentAction.CLAIM,
    RELEASE: AgentAction.RELEASE,
    CLOSE: AgentAction.CLOSE,
    TAKEOVER: AgentAction.TAKEOVER,
    FOLLOW_UP: AgentAction.FOLLOW_UP,
}

# "Send this answer": one button per suggestion, `tsunagu_send_answer:<faq id>`.
SEND_ANSWER = "tsunagu_send_answer"
ANSWER_PREVIEW = 300

SENDERS = {"customer": "Customer", "bot": "Bot", "agent": "Agent", "system": "System"}
SECTION_LIMIT = 2900  # Slack refuses section texts over 3000 characters
LINE_LIMIT = 400
HISTORY_SHOWN = 3


def escape(text: str) -> str:
    """Text made safe for Slack mrkdwn (no accidental links or mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def when(timestamp: float, fmt: str = "{time}") -> str:
    """A Slack date token: shown in each reader's own time zone."""
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))
    return f"<!date^{int(timestamp)}^{fmt}|{fallback}>"


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def exactly(actor: Actor) -> str:
    """Which agent exactly, since names may be shared: a Slack mention, else the id."""
    if actor.id.startswith(f"{SLACK}:"):
        return f"<@{escape(actor.id.removeprefix(f'{SLACK}:'))}>"
    return f"`{escape(actor.id)}`"


def status_blocks(
    conversation_id: str, conversation: Conversation | None, survey: list[str] | None = None
) -> list[dict[str, Any]]:
    """The state line and the buttons that fit it, for the escalation of `conversation_id`;
    `survey`: the answers the customer gave ("CES 6/7"), shown once it is closed."""
    value = conversation_id
    rated = f" · :star: {escape(', '.join(survey))}" if survey else ""
    if conversation is None or conversation.id != conversation_id:
        return [section(f":white_check_mark: *Closed*{rated}", "status")]
    state, holder = conversation.state, conversation.agent
    if state is ConversationState.QUEUED:
        return [
            section(":hourglass_flowing_sand: *Waiting for an agent*", "status"),
            {
                "type": "actions",
                "block_id": "actions",
                "elements": [button("Claim", CLAIM, value, "primary")],
            },
        ]
    if state is ConversationState.WITH_AGENT:
        return [
            section(
                f":raising_hand: *Claimed by {escape(holder.name)}* ({exactly(holder)}) — "
                "replies in this thread go to the customer"
                if holder
                else ":raising_hand: *Claimed*",
                "status",
            ),
            {
                "type": "actions",
                "block_id": "actions",
                "elements": [
                    button("Release", RELEASE, value),
                    button("Close", CLOSE, value, "danger"),
                    # Only for someone else than the holder: refused for the holder.
                    button("Take over", TAKEOVER, value),
                ],
            },
        ]
    if state in (ConversationState.SURVEY, ConversationState.CLOSED):
        by = f" by {escape(holder.name)}* ({exactly(holder)})" if holder else "*"
        return [section(f":white_check_mark: *Closed{by}{rated}", "status")]
    return [
        section(":leftwards_arrow_with_hook: *Back with the bot* (no longer waiting)", "status")
    ]


def action_note(action: AgentAction, actor: Actor, result: ActionResult) -> str:
    """The thread note for an agent's successful button press."""
    who = f"*{escape(actor.name)}* ({exactly(actor)})"
    if action is AgentAction.CLAIM:
        return f":raising_hand: {who} claimed the conversation."
    if action is AgentAction.RELEASE:
        return f":arrows_counterclockwise: {who} released the conversation; it is waiting again."
    if action is AgentAction.TAKEOVER:
        return f":twisted_rightwards_arrows: {who} took the conversation over."
    if result.state is ConversationState.SURVEY:
        return (
            f":white_check_mark: {who} closed the conversation; the customer was asked the "
            "survey question."
        )
    return f":white_check_mark: {who} closed the conversation."


def desk_action_note(event: DeskEvent) -> str:
    """The thread note for a claim, release or close made at another desk (the console)."""
    who = f"*{escape(event.text or '?')}* (`{escape(event.agent_id or '?')}`)"
    if event.kind == "claimed":
        return f":raising_hand: {who} claimed the conversation in the web console."
    if event.kind == "released":
        return (
            f":arrows_counterclockwise: {who} released the conversation in the web console; "
            "it is waiting again."
        )
    return f":white_check_mark: {who} closed the conversation in the web console."


def note(event: DeskEvent) -> str:
    """The thread note for a desk event other than an escalation or a message."""
    text = escape(event.text)
    if event.kind == "cancelled":
        return ":leftwards_arrow_with_hook: The customer cancelled and is back with the bot."
    if event.kind == "closed":
        return f":door: The conversation ended ({text or 'closed'})."
    if event.kind == "unclaimed":
        return f":alarm_clock: Still waiting: {text or 'nobody has claimed this yet'}."
    if event.kind == "low_score":
        return f":chart_with_downwards_trend: Low survey score: {text}"
    if event.kind == "taken_over":
        return f":twisted_rightwards_arrows: Taken over: {text}."
    if event.kind == "rated":
        return f":star: The customer answered the survey: {text}."
    return f":information_source: {escape(str(event.kind))}: {text}"


def transcript_text(
    entries: list[TranscriptEntry],
    channel_labels: Mapping[str, str] | None = None,
    customer_name: str | None = None,
) -> str:
    """The transcript as one section's text, newest kept; `channel_labels` name where a
    linked customer wrote each line. Customer lines written before the name was known
    (LINE asks for it only when agents are first told) carry `customer_name`."""
    labels = channel_labels or {}
    lines = []
    for entry in entries:
        who = SENDERS.get(entry.sender, entry.sender)
        name = entry.sender_name or (customer_name if entry.sender == "customer" else None)
        if name and entry.sender in ("agent", "customer"):
            who = f"{who} ({name})"
        if entry.channel:  # a linked customer's line says where it was written
            who = f"{who} · {labels.get(entry.channel, entry.channel)}"
        text = escape(clip(entry.text.replace("\n", " "), LINE_LIMIT))
        lines.append(f"{when(entry.time)} *{escape(who)}:* {text}")
    text = "\n".join(lines)
    while len(text) > SECTION_LIMIT and len(lines) > 1:
        lines.pop(0)  # keep the latest lines
        text = "…\n" + "\n".join(lines)
    return clip(text, SECTION_LIMIT)


def suggestion_blocks(suggestions: Suggestions) -> list[dict[str, Any]]:
    """The FAQ answers for the customer's latest message, each with "Send this answer"."""
    asked = escape(clip((suggestions.message or "").replace("\n", " "), 150))
    blocks: list[dict[str, Any]] = [
        context(f":bulb: FAQ answers for “{asked}” — only the agent holding it can send one")
    ]
    for n, s in enumerate(suggestions.suggestions):
        preview = escape(clip(s.answer.replace("\n", " "), ANSWER_PREVIEW))
        blocks.append(section(f"*{escape(s.question)}*  ({s.score:.0%})\n>{preview}"))
        blocks.append(
            {
                "type": "actions",
                "block_id": f"suggestion-{n}",
                "elements": [button("Send this answer", f"{SEND_ANSWER}:{s.faq_id}", s.faq_id)],
            }
        )
    return blocks


def answer_sent_note(actor: Actor, question: str) -> str:
    """The thread note for an FAQ answer the holder sent with its button."""
    return (
        f":outbox_tray: *{escape(actor.name)}* ({exactly(actor)}) sent the FAQ answer "
        f"“{escape(question)}”."
    )
