"""Reading a reader's "did this solve it?" answer from a JSON or an HTML-form body."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

MAX_COMMENT_CHARS = 1000
JSON_MEDIA_TYPE = "application/json"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
FEEDBACK_ID = r"^[0-9a-f]{32}$"


class FeedbackIn(BaseModel):
    """`{"helpful": true|false, "comment": "…"}`; `feedback_id` adds a comment to an earlier no."""

    model_config = ConfigDict(extra="forbid")

    helpful: StrictBool = Field(description="Whether the article solved the reader's problem.")
    comment: str | None = Field(
        default=None,
        max_length=MAX_COMMENT_CHARS,
        description="What was missing (usually after a no).",
    )
    feedback_id: str | None = Field(
        default=None,
        pattern=FEEDBACK_ID,
        description="The id an earlier answer returned: this one replaces it (to add a comment).",
    )

    @field_validator("comment")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class FeedbackError(Exception):
    """The body could not be read (400, 415) or says something invalid (422)."""

    def __init__(self, status: int, detail: str, problems: list[dict[str, str]] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.problems = problems or []


def parse_feedback(content_type: str, body: bytes) -> tuple[FeedbackIn, bool]:
    """The feedback in `body`, and whether it came from an HTML form (which wants a redirect)."""
    media = content_type.split(";")[0].strip().lower()
    if media == JSON_MEDIA_TYPE:
        return _validate(_json_object(body)), False
    if media == FORM_MEDIA_TYPE:
        return _validate(_form(body)), True
    raise FeedbackError(415, f"send the feedback as {JSON_MEDIA_TYPE} or {FORM_MEDIA_TYPE}")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedbackError(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise FeedbackError(400, 'expected a JSON object like {"helpful": false, "comment": "…"}')
    return data


def _form(body: bytes) -> dict[str, Any]:
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FeedbackError(400, f"the form could not be read: {exc}") from exc
    data: dict[str, Any] = {k: v[-1] for k, v in fields.items()}
    helpful = data.get("helpful")
    # A form says "true"/"false"; anything else is left as is for validation to refuse.
    if helpful in ("true", "false"):
        data["helpful"] = helpful == "true"
    if data.get("feedback_id") == "":
        data.pop("feedback_id")
    return data


def _validate(data: dict[str, Any]) -> FeedbackIn:
    try:
        return FeedbackIn.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]) or "body", "problem": err["msg"]}
            for err in exc.errors()
        ]
        raise FeedbackError(422, "invalid feedback", problems) from exc
