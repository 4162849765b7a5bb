"""LINE as a Japanese shop runs it: the person-mode rich menu, 既読 when a person reads, what
each send costs and the push budget. The fake LINE platform plays the Messaging API; the app,
its worker, Redis and line-bot-sdk are real."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from PIL import Image

from bot.actor import Actor
from bot.composition.cli import main
from bot.conversation import ConversationState
from bot.settings import Settings
from channels.line.cli import delete_rich_menus, draw_rich_menus, setup_rich_menus
from channels.line.panel import check_bot_info
from channels.line.rich_menus import HEIGHT, WIDTH
from tests.conftest import REDIS_URL
from tests.eventually import eventually, settled
from tests.fakes.line_platform import LineWorld, line_world

PERSON_MENU = "richmenu-person-mode"
ADMIN = "admin-token-for-line-tests"
SATO = Actor(id="slack:U0SATO", name="佐藤")


def texts_to(world: LineWorld, user: str) -> list[str]:
    return [m.get("text", "") for m in world.platform.messages_to(user)]


def sends(world: LineWorld, user: str) -> list[tuple[str, str]]:
    """(kind, first text) of every accepted call to `user`, in order."""
    return [(s.kind, s.messages[0].get("text", "")) for s in world.platform.sent if s.to == user]


async def counts(world: LineWorld) -> dict[str, dict[str, int]]:
    line = world.app.channel
    return (await line.counter.month()).counts


async def act(world: LineWorld, action: str, user: str, text: str = "") -> None:
    agents = world.app.runtime.agents
    key, action_id = f"line:{user}", f"{action}-{user}"
    if action == "reply":
        result = await agents.reply(key, SATO, text, action_id=action_id)
    else:
        result = await getattr(agents, action)(key, SATO, action_id=action_id)
    assert result.ok, result.reason


async def test_person_mode_from_handoff_to_the_survey(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asks for a person: the person menu is linked. The agent claims: the customer's
    messages are marked read. Replies: a push, counted. The customer thanks them and the
    agent closes: the survey goes by the customer's fresh reply token, free. Back with the
    bot: the menu is unlinked."""
    settings = make_settings(admin_token=ADMIN)
    async with line_world(settings, rich_menu_person=PERSON_MENU) as world:
        platform = world.platform
        platform.add_rich_menu(PERSON_MENU)
        user = world.new_user("花子")
        runtime = world.app.runtime

        await platform.say(user, "人と話したい")
        await platform.wait_for_text(user, "番目")
        await eventually(lambda: platform.menu_of(user) == PERSON_MENU, what="person menu")
        assert platform.read_tokens == [], "nobody has read it yet: no 既読"

        await act(world, "claim", user)
        await eventually(lambda: len(platform.read_tokens) == 1, what="messages marked read")

        await act(world, "reply", user, "佐藤です。ご用件を伺います。")
        await platform.wait_for_text(user, "ご用件を伺います")
        assert sends(world, user)[-1] == ("push", "佐藤です。ご用件を伺います。")

        await platform.say(user, "ありがとうございました、解決しました")
        await settled(runtime.inbox)
        await act(world, "close", user)
        survey = await platform.wait_for_text(user, "簡単に解決できた")
        assert sends(world, user)[-1][0] == "reply", "the survey rides the fresh reply token"
        assert survey["quickReply"]["items"]

        await eventually(lambda: platform.menu_of(user) is None, what="person menu unlinked")
        assert platform.menu_calls == [("link", user, PERSON_MENU), ("unlink", user, None)]

        month = await counts(world)
        assert month["push"] == {"notice": 1, "agent": 1}, month
        assert month["reply"] == {"notice": 1, "survey": 1}, month


async def test_menu_taps_tell_the_wait_list_the_faq_and_go_back_to_the_bot(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with line_world(make_settings(), rich_menu_person=PERSON_MENU) as world:
        platform = world.platform
        platform.add_rich_menu(PERSON_MENU)
        user = world.new_user()
        await platform.say(user, "オペレーター")
        await platform.wait_for_text(user, "番目")
        await platform.post([platform.postback(user, "queue_status")])
        await eventually(lambda: sum("番目" in t for t in texts_to(world, user)) == 2)

        await platform.post([platform.postback(user, "faq_menu")])
        menu = await platform.wait_for_text(user, "よくあるご質問")
        first = menu["quickReply"]["items"][0]
        await platform.tap(user, first)
        await platform.wait_for_text(user, "550")  # answered while still waiting
        conversation = await world.app.runtime.store.load(f"line:{user}")
        assert conversation is not None and conversation.state is ConversationState.QUEUED

        await platform.post([platform.postback(user, "back_to_bot")])
        await platform.wait_for_text(user, "キャンセル")
        await eventually(lambda: platform.menu_of(user) is None, what="person menu unlinked")
        conversation = await world.app.runtime.store.load(f"line:{user}")
        assert conversation is not None and conversation.state is ConversationState.BOT


async def test_a_failed_link_never_holds_the_conversation_up(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with line_world(make_settings(), rich_menu_person=PERSON_MENU) as world:
        platform = world.platform
        platform.add_rich_menu(PERSON_MENU)
        platform.fail("link", 500, times=5)
        user = world.new_user()
        await platform.say(user, "人と話したい")
        await platform.wait_for_text(user, "番目")
        await settled(world.app.runtime.inbox)
        await act(world, "claim", user)
        await platform.wait_for_text(user, "佐藤")
        assert platform.menu_of(user) is None


async def test_the_budget_stops_an_optional_push_and_never_an_agents_reply(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(admin_token=ADMIN)
    async with line_world(settings, push_budget=1) as world:
        platform = world.platform
        user = world.new_user()
        await platform.say(user, "人と話したい")
        await platform.wait_for_text(user, "番目")
        await settled(world.app.runtime.inbox)
        await act(world, "claim", user)  # "担当の佐藤が…": the first push, within budget
        await platform.wait_for_text(user, "担当の佐藤")
        await act(world, "reply", user, "お待たせしました")
        await platform.wait_for_text(user, "お待たせしました")  # over budget, sent anyway
        await act(world, "close", user)  # the survey would be a push: stopped

        async def survey_skipped() -> bool:
            return (await counts(world)).get("skipped") == {"survey": 1}

        await eventually(survey_skipped, what="the survey counted as not sent")
        assert not any("簡単に解決できた" in t for t in texts_to(world, user))
        assert [kind for kind, _ in sends(world, user)] == ["reply", "push", "push"]
        conversation = await world.app.runtime.store.load(f"line:{user}")
        assert conversation is not None and conversation.state is ConversationState.SURVEY

        async with httpx.AsyncClient(base_url=world.app.base_url) as http:
            response = await http.get(
                "/admin/api/report", headers={"Authorization": f"Bearer {ADMIN}"}
            )
        [panel] = response.json()["panels"]
        assert panel["id"] == "line-cost"
        assert any("LINE_PUSH_BUDGET=1" in w for w in panel["warnings"])
        budget = next(f for f in panel["figures"] if f["name"] == "Push budget")
        assert budget["value"] == "2 / 1" and budget["warn"]


async def test_opening_the_conversation_in_the_console_marks_it_read(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(admin_token=ADMIN)
    async with line_world(settings) as world:
        platform = world.platform
        user = world.new_user()
        await platform.say(user, "人と話したい")
        await platform.wait_for_text(user, "番目")
        await settled(world.app.runtime.inbox)
        assert platform.read_tokens == []
        headers = {"Authorization": f"Bearer {ADMIN}"}
        async with httpx.AsyncClient(base_url=world.app.base_url) as http:
            response = await http.get(f"/agent/api/conversations/line:{user}", headers=headers)
            assert response.status_code == 200
            await eventually(lambda: len(platform.read_tokens) == 1, what="marked read")
            await http.get(f"/agent/api/conversations/line:{user}", headers=headers)
        await settled(world.app.runtime.inbox)
        assert len(platform.read_tokens) == 1, "nothing new to mark on a second look"


async def test_cost_card_quota_warning_and_the_two_answers_warning_in_tsunagu_report(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    async with line_world(settings) as world:
        platform = world.platform
        platform.usage_offset = 170  # pushes sent this month outside Tsunagu (broadcasts)
        platform.bot_info["chatMode"] = "chat"
        line = world.app.channel
        await check_bot_info(line.api, line.redis, line.line_keys)  # as at a restart
        user = world.new_user()
        await platform.say(user, "送料はいくらですか？")
        await platform.wait_for_text(user, "550")
        await settled(world.app.runtime.inbox)
        env = {
            **platform.env(),  # the command reads its LINE settings from its environment
            "REDIS_URL": REDIS_URL,
            "KEY_PREFIX": settings.key_prefix,
        }
        result = await _invoke(["report", "--days", "1"], env)
        assert result.exit_code == 0, result.output
        out = result.output
        lines = {line.split("  ")[1].strip(): line for line in out.splitlines() if "  " in line}
        assert "LINE messages, 20" in out
        assert "170 / 200" in lines["Pushes this month"]
        assert "100%" in lines["Free replies"]
        assert "85% of this month's quota" in out
        assert "two answers" in out
        requests = platform.quota_requests
        await _invoke(["report", "--days", "1"], env)
        assert platform.quota_requests == requests, "read at most every few minutes"


async def _invoke(args: list[str], env: dict[str, str]) -> Any:
    import asyncio

    return await asyncio.to_thread(CliRunner().invoke, main, args, env=env)


async def test_rich_menu_setup_draws_and_creates_both_menus_then_deletes_them(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with line_world(make_settings()) as world:
        platform = world.platform
        line_settings = world.app.channel.settings
        menus = draw_rich_menus("ja")
        bot_id, person_id = await setup_rich_menus(line_settings, menus)
        assert platform.default_rich_menu == bot_id
        bot_menu = platform.rich_menus[bot_id]
        actions = [a["action"] for a in bot_menu["areas"]]
        assert actions[-1]["data"] == "handoff" and actions[-1]["displayText"] == "人と話す"
        assert all(a["data"].startswith("faq:") for a in actions[:-1])
        person = [a["action"]["displayText"] for a in platform.rich_menus[person_id]["areas"]]
        assert person == ["ボットに戻る", "待ち状況", "よくある質問"]
        for menu_id in (bot_id, person_id):
            image, media_type = platform.rich_menu_images[menu_id]
            assert media_type == "image/png"
            assert Image.open(io.BytesIO(image)).size == (WIDTH, HEIGHT)
            assert len(image) < 1024 * 1024  # LINE's limit

        # A tap on the bot menu's 「人と話す」 hands the customer over like a button.
        user = world.new_user()
        await platform.post([platform.postback(user, "handoff")])
        await platform.wait_for_text(user, "番目")

        removed = await delete_rich_menus(line_settings)
        assert sorted(removed) == sorted([bot_id, person_id])
        assert platform.rich_menus == {} and platform.default_rich_menu is None
