"""`tsunagu line simulate` and `tsunagu messenger simulate`: a chat typed in the terminal,
against the channel's fake platform."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot.composition.cli import main


def chat(command: list[str], typed: list[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a simulator with `typed` as its input; returns what it printed."""
    monkeypatch.delenv("REDIS_URL", raising=False)  # the embedded Redis, as on a laptop
    result = CliRunner().invoke(main, command, input="\n".join(typed) + "\n")
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("flags", [[], ["--instagram"]], ids=["messenger", "instagram"])
def test_a_simulated_meta_chat_shows_answers_and_the_24_hour_rule(
    flags: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = [
        "送料はいくらですか？",
        "人と話したい",
        "/agent claim 佐藤",
        "/agent お待たせしました",
        "/later 30",
        "/agent まだいらっしゃいますか",
        "/quit",
    ]
    output = chat(["messenger", "simulate", *flags], typed, monkeypatch)
    assert "webhook handshake: 200" in output
    assert "[RESPONSE] 送料は全国一律550円" in output
    assert "[RESPONSE] 担当の佐藤がご対応します" in output
    assert "[RESPONSE] お待たせしました" in output
    assert "[HUMAN_AGENT] まだいらっしゃいますか" in output


def test_a_simulated_line_chat_shows_answers_and_lets_an_agent_claim_write_and_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
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
    output = chat(["line", "simulate"], typed, monkeypatch)
    assert "Fake LINE at http://127.0.0.1:" in output
    assert "[reply] 送料は全国一律550円" in output
    assert "unknown command; /help lists them" in output
    assert "(agent 佐藤 claim: ok)" in output
    assert "[push] お待たせしました" in output
    assert "(agent close: ok)" in output
