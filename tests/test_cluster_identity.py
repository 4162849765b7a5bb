"""One customer across LINE and the web widget on a Redis Cluster (`REDIS_CLUSTER=true`).

Linking moves several identity keys at once (a WATCHed MULTI over the link pointers, the
member sets and the profiles); they share the hash tag `{identity}`, so the transaction
stays in one slot. Here a LINE customer asks for a code, the widget types it, and from
then on they are one conversation: one queued customer, one transcript with both
channels' lines, an agent's reply to where they last wrote or to the other channel; then
the widget unlinks itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from bot.settings import Settings
from tests.cluster import LocalCluster
from tests.eventually import settled
from tests.fakes.line_platform import line_world
from tests.test_linked_channels import asked_on_line_linked_on_the_web

ADMIN = "admin-secret"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
AS_SATO = {**AS_ADMIN, "X-Agent-Name": "Sato"}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A Redis Cluster of this test alone (3 masters, 3 replicas), stopped afterwards."""
    with LocalCluster(tmp_path / "cluster") as local:
        yield local


async def test_a_line_and_a_web_customer_linked_by_code_are_one_conversation_on_a_cluster(
    cluster: LocalCluster, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(redis_url=cluster.url, redis_cluster=True, admin_token=ADMIN)
    async with line_world(settings) as world:
        rt, line = world.app.runtime, world.platform
        assert isinstance(rt.redis, RedisCluster)
        async with httpx.AsyncClient(base_url=world.app.base_url, timeout=30) as http:
            user, web, code = await asked_on_line_linked_on_the_web(world, http)
            line_key, web_key = f"line:{user}", f"web:{web.user_id}"
            identities = rt.linking.identities
            assert await identities.members(web_key) == [line_key, web_key]
            # Every key the link wrote is in one slot: the transaction had one node to go to.
            keys = rt.keys
            written = [
                keys.identity_link(web_key),
                keys.identity_members(line_key),
                keys.identity_profile(line_key),
                keys.link_code(code),
                keys.link_tries(web_key),
            ]
            assert len({key_slot(k.encode()) for k in written}) == 1

            await web.say("人と話したい")
            assert "担当者におつなぎします" in (await web.next_from("bot"))["text"]
            assert await rt.queue.waiting(10) == [line_key], "one queued customer, not two"

            url = f"/agent/api/conversations/{quote(line_key, safe='')}"
            view = (await http.get(url, headers=AS_ADMIN)).json()
            said = [
                (e["channel"], e["text"]) for e in view["transcript"] if e["sender"] == "customer"
            ]
            assert said == [
                ("line", "送料はいくらですか？"),
                ("line", "連携コード"),
                ("web", "人と話したい"),
            ]
            assert view["identities"] == {"line": line_key, "web": web_key}

            claimed = await http.post(f"{url}/claim", headers=AS_SATO)
            assert claimed.status_code == 200, claimed.text
            sent = await http.post(
                f"{url}/reply", json={"text": "ご注文番号を", "client_id": "r1"}, headers=AS_SATO
            )
            assert sent.status_code == 200, sent.text
            assert (await web.next_from("agent"))["text"] == "ご注文番号を"
            on_line = await http.post(
                f"{url}/reply",
                json={"text": "LINEにも", "client_id": "r2", "channel": "line"},
                headers=AS_SATO,
            )
            assert on_line.status_code == 200, on_line.text
            await line.wait_for_text(user, "LINEにも")

            # Unlinking (another multi-key transaction) works on the cluster too.
            assert await rt.linking.unlink(web_key)
            assert await identities.members(line_key) == [line_key]
            assert await identities.resolve(web_key) == web_key
        await settled(rt.inbox)
