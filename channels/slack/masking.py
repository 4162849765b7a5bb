"""The Slack desk's Web API client: personal data is masked in every text it posts.

Masking here, where a message leaves for Slack, covers every post of the desk (escalation
transcripts, relayed customer messages, notes, low-score alerts, FAQ suggestions) and any
added later. Only texts are touched: block ids, button values and action ids stay as they
are, so buttons keep working.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.privacy.mask import mask_personal_data

# The methods that put text in a channel.
POSTING = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})


def masked_texts(value: Any) -> Any:
    """A Slack payload with every `text` (the message's, and each Block Kit text object's)
    masked; everything else as it was."""
    if isinstance(value, dict):
        return {
            key: mask_personal_data(item)
            if key in ("text", "markdown_text") and isinstance(item, str)
            else masked_texts(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [masked_texts(item) for item in value]
    return value


class MaskingWebClient(AsyncWebClient):
    """`AsyncWebClient` whose posts carry no personal data (`PII_MASK_SLACK`)."""

    async def api_call(
        self, api_method: str, *, json: dict[str, Any] | None = None, **kwargs: Any
    ) -> AsyncSlackResponse:
        """Call the Web API, with the texts of a post masked first."""
        if api_method in POSTING and json is not None:
            json = masked_texts(json)
        return await super().api_call(api_method, json=json, **kwargs)


def desk_client(client: AsyncWebClient, *, mask: bool) -> AsyncWebClient:
    """The client the desk posts with: `client`'s connection settings, masking if `mask`."""
    if not mask:
        return client
    return MaskingWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        session=client.session,
        headers=client.headers,
        retry_handlers=client.retry_handlers,
    )
