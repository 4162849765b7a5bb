"""`tsunagu messenger simulate`: a chat typed in the terminal, against the fake Meta."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot.composition.cli import main


@pytest.mark.parametrize("flags", [[], ["--instagram"]], ids=["messenger", "instagram"])
def test_a_simulated_chat_shows_answers_and_the_24_hour_rule(
    flags: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)  # the embedded Redis, as on a laptop
    typed = [
        "送料はいくらですか？",
        "人と話したい",
        "/agent claim 佐藤",
        "/agent お待たせしました",
        "/later 30",
        "/agent まだいらっしゃいますか",
        "/quit",
    ]
    result = CliRunner().invoke(
        main, ["messenger", "simulate", *flags], input="\n".join(typed) + "\n"
    )
    assert result.exit_code == 0, result.output
    assert "webhook handshake: 200" in result.output
    assert "[RESPONSE] 送料は全国一律550円" in result.output
    assert "[RESPONSE] 担当の佐藤がご対応します" in result.output
    assert "[RESPONSE] お待たせしました" in result.output
    assert "[HUMAN_AGENT] まだいらっしゃいますか" in result.output
