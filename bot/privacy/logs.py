"""Personal data kept out of the log (`PII_MASK_LOGS`), and the filter such rewrites share
(`bot.logs.RedactSecrets` blanks tokens out with it)."""

from __future__ import annotations

import logging

from bot.privacy.mask import mask_personal_data

# Attributes every LogRecord has; the others came from `extra=`.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}
_FORMATTER = logging.Formatter()


class RewriteRecord(logging.Filter):
    """Rewrites every record's message and `extra` strings with `rewrite`."""

    def rewrite(self, text: str) -> str:
        """`text` as it may be logged."""
        raise NotImplementedError

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        message = record.getMessage()
        rewritten = self.rewrite(message)
        if rewritten != message:
            record.msg, record.args = rewritten, ()
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.rewrite(value))
        return True


class MaskPersonalData(RewriteRecord):
    """Masks personal data in every record: its message, its `extra` strings and the text
    of its exception."""

    def rewrite(self, text: str) -> str:
        """`text` with personal data masked."""
        return mask_personal_data(text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        super().filter(record)
        if record.exc_info and not record.exc_text:
            # An exception's message may quote the input: formatters print this text.
            record.exc_text = mask_personal_data(_FORMATTER.formatException(record.exc_info))
        return True
