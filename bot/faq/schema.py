"""JSON Schema of FAQ files, for editors that validate YAML while admins type."""

from __future__ import annotations

from typing import Any

from bot.faq.model import FaqFile

SCHEMA_ID = "https://tsunagu.dev/schemas/faq.schema.json"


def faq_schema() -> dict[str, Any]:
    """The JSON Schema of one FAQ YAML file (generated from the pydantic model)."""
    schema = FaqFile.model_json_schema()
    schema["title"] = "Tsunagu FAQ file"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
