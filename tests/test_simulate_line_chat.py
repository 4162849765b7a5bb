"""`tsunagu line simulate`: a chat typed in the terminal, against the fake LINE platform."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot.composition.cli import main


def test_a_simulated_line_chat_shows_answers_quick_replies_and_an_agent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)  # the embedded Redis, as on a laptop
    typed = [
        "送料はいくらですか？",
        "/sticker",
        "/nonsense",
        "人と話したい",
        "/agent claim 佐藤",
        "/agent お待たせしました",
        "/agent close",
        "/quit",
    ]
    result = CliRunner().invoke(main, ["line", "simulate"], input="\n".join(typed) + "\n")
    assert result.exit_code == 0, result.output
    assert "Fake LINE at http://127.0.0.1:" in result.output
    assert "[reply] 送料は全国一律550円" in result.output
    assert "unknown command; /help lists them" in result.output
    assert "(agent 佐藤 claim: ok)" in result.output
    assert "[push] お待たせしました" in result.output
    assert "(agent close: ok)" in result.output
