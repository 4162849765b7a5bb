"""Personal data kept out of the log (`PII_MASK_LOGS`)."""

from __future__ import annotations

import logging

from bot.privacy.mask import mask_personal_data

# Attributes every LogRecord has; the others came from `extra=`.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}
_FORMATTER = logging.Formatter()


class MaskPersonalData(logging.Filter):
    """Masks personal data in every record: its message and its `extra` strings."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        message = record.getMessage()
        masked = mask_personal_data(message)
        if masked != message:
            record.msg, record.args = masked, ()
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, mask_personal_data(value))
        if record.exc_info and not record.exc_text:
            # An exception's message may quote the input: formatters print this text.
            record.exc_text = mask_personal_data(_FORMATTER.formatException(record.exc_info))
        return True
