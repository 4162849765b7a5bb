"""What each agent sees in the console: the holder the original, everyone else masked.

The agent holding a conversation needs what the customer actually wrote (the phone number
to call back); their view is written to the audit log. Agents looking at a conversation
they do not hold, and the queue's previews, see personal data masked (`PII_MASK_CONSOLE`).
"""

from __future__ import annotations

from bot.actor import Actor
from bot.conversation import Conversation
from bot.flow.agent_turn import holds
from bot.privacy.audit import AuditLog
from bot.privacy.mask import mask_personal_data
from handoff.console.schemas import ConversationView, QueueView
from handoff.suggestions import Suggestions


class ConsolePrivacy:
    """Decides, per agent, whether a console view shows the originals, and audits it."""

    def __init__(self, audit: AuditLog, *, mask: bool):
        self._audit = audit
        self._mask = mask

    async def conversation(
        self, view: ConversationView, conversation: Conversation, viewer: Actor | None
    ) -> ConversationView:
        """`view` as `viewer` may see it: the original for the holder (audited), else masked."""
        if viewer is not None and holds(conversation, viewer):
            await self._audit.viewed(viewer, conversation.customer_key, conversation.id)
            return view
        if not self._mask:
            return view
        transcript = [
            line.model_copy(update={"text": mask_personal_data(line.text)})
            for line in view.transcript
        ]
        return view.model_copy(update={"transcript": transcript})

    def suggestions(
        self, found: Suggestions, conversation: Conversation, viewer: Actor | None
    ) -> Suggestions:
        """The FAQ suggestions with the customer's message as `viewer` may see it (the
        holder's look at the original is audited with the conversation's view)."""
        if not self._mask or not found.message:
            return found
        if viewer is not None and holds(conversation, viewer):
            return found
        return found.model_copy(update={"message": mask_personal_data(found.message)})

    def queue(self, view: QueueView) -> QueueView:
        """The queue with the customers' latest words masked (it is everyone's view)."""
        if not self._mask:
            return view

        def masked(text: str | None) -> str | None:
            return mask_personal_data(text) if text else text

        return QueueView(
            waiting=[
                w.model_copy(update={"last_message": masked(w.last_message)}) for w in view.waiting
            ],
            with_agents=[
                a.model_copy(update={"last_message": masked(a.last_message)})
                for a in view.with_agents
            ],
        )
