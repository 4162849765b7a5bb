"""Logging: one JSON object a line (for log platforms), or plain text for a terminal."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

from bot.privacy.logs import MaskPersonalData, RewriteRecord

# Attributes every LogRecord has; anything else came from `extra=` and is worth printing.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


class JsonFormatter(logging.Formatter):
    """Formats a record and its `extra` fields as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        doc: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            # `exc_text` when a filter has already formatted (and masked) it.
            doc["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """A readable line with the `extra` fields appended as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of text."""
        line = super().format(record)
        extras = [
            f"{k}={v}"
            for k, v in record.__dict__.items()
            if k not in _STANDARD and not k.startswith("_")
        ]
        return f"{line} {' '.join(extras)}" if extras else line


_SECRETS = [
    # Tokens in query strings (the WebSocket's web token, signed content links); a link's
    # #fragment is left alone: the console link printed at start-up is meant to be used.
    (re.compile(r"([?&](?:token|sig|access_token)=)[^&#\s\"']+"), r"\1[redacted]"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1[redacted]"),
    (re.compile(r"\b(xox[abposr]|xapp)-[A-Za-z0-9-]+"), r"\1-[redacted]"),
]


def redact(text: str) -> str:
    """`text` with bearer tokens, Slack tokens and token query parameters blanked out."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(RewriteRecord):
    """Blanks tokens out of every record (message, arguments and `extra` strings)."""

    def rewrite(self, text: str) -> str:
        """`text` with its tokens blanked out."""
        return redact(text)


def configure_logging(level: str = "INFO", fmt: str = "json", *, mask: bool = True) -> None:
    """Send every `tsunagu.*` and server log line to stderr in the chosen format, with
    personal data masked unless `mask` is False (`PII_MASK_LOGS`)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    if fmt == "text":
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecrets())
    if mask:
        handler.addFilter(MaskPersonalData())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
