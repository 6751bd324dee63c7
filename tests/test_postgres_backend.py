"""The bot on PostgreSQL: `[storage] backend = "postgresql"`, conversations and restarts."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bot.app import open_engine
from bot.cli import main
from bot.config import ConfigError, parse_settings
from bot.store.transfer import transfer
from tests.conftest import ALICE, CHAT, RecordingOutbox, make_settings, photo, request
from tests.fakes.gemini import GeminiFake
from tests.fakes.telegram import TelegramFake
from tests.postgres_server import new_database
from tests.telegram_harness import running_bot, telegram_settings


def test_the_storage_section_picks_the_backend_and_the_environment_wins() -> None:
    raw = {"storage": {"backend": "postgresql", "database_url": "postgresql://a@b/c"}}
    settings = parse_settings(raw, {"BANANABOT_DATABASE_URL": "postgresql://x:pw@y/z"})
    assert settings.storage.backend == "postgresql"
    assert settings.storage.database_url == "postgresql://x:pw@y/z"
    assert settings.storage.pool_size == 10
    with pytest.raises(ConfigError) as wrong:
        parse_settings({"storage": {"backend": "mysql"}}, {})
    assert wrong.value.key == "storage.backend"
    with pytest.raises(ConfigError) as missing:
        parse_settings({"storage": {"backend": "postgresql"}}, {})
    assert missing.value.key == "storage.database_url"


async def test_a_telegram_conversation_on_postgresql_survives_a_restart(
    tmp_path: Path, postgres_url: str
) -> None:
    url = await new_database(postgres_url)
    async with TelegramFake() as tg, GeminiFake() as gemini:
        alice = tg.user(1, "Alice")
        chat = tg.private_chat(alice)
        base = telegram_settings(tmp_path, gemini, tg)
        settings = dataclasses.replace(
            base,
            storage=dataclasses.replace(base.storage, backend="postgresql", database_url=url),
        )
        async with running_bot(tg, settings) as bot:
            sent = tg.send_user_message(chat, alice, photo=photo(), caption="a cat")
            first = bot.posted(await bot.reply_to(sent))
            saving = tg.send_user_message(
                chat, alice, photo=photo((9, 9, 200)), caption="/ref save hat"
            )
            await bot.reply_to(saving, "sendMessage", linked=False)
        async with running_bot(tg, settings) as bot:  # a new process, the same database
            more = tg.send_user_message(chat, alice, text="add #hat", reply_to=first)
            await bot.reply_to(more)
            history = tg.send_user_message(chat, alice, text="/history")
            board = await bot.reply_to(history, "sendPhoto", linked=False)
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.png"))
    second = gemini.requests[1]
    assert [c.role for c in second.contents] == ["user", "model", "user"]
    assert second.contents[1].parts[-1].image == gemini.requests[0].result_image
    assert second.contents[-1].parts[0].text == "Reference #hat:"
    assert board.params["caption"] == "How this result came about: 2 edits."


async def test_migrate_copies_a_sqlite_data_dir_and_replies_continue_byte_identically(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def never() -> bool:
        return False

    async with GeminiFake() as fake:
        on_sqlite = make_settings(tmp_path / "data", fake)
        async with open_engine(on_sqlite) as engine:
            first = RecordingOutbox()
            await engine.handle(request("a cat", photo()), first)
            second = RecordingOutbox()
            await engine.handle(request("a hat", reply_to=first.posted[-1]), second)
            await engine.settings_service.change(CHAT, "aspect_ratio", "16:9")
            await engine.save_reference(
                CHAT, ALICE, "hero", "a red cape", private=False, chat_admin=never
            )
        url = await new_database(postgres_url)
        seen: list[tuple[str, int, int]] = []
        counts = await transfer(tmp_path / "data", url, lambda *step: seen.append(step))
        config = tmp_path / "config.toml"
        config.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
        # Run again, as after an interruption: nothing is copied twice.
        assert (
            await asyncio.to_thread(main, ["migrate", "--config", str(config), "--to", url]) == 0
        )
        on_postgres = dataclasses.replace(
            on_sqlite,
            storage=dataclasses.replace(on_sqlite.storage, backend="postgresql", database_url=url),
        )
        async with open_engine(on_postgres) as engine:
            third = RecordingOutbox()
            await engine.handle(request("#hero in a scarf", reply_to=second.posted[-1]), third)
    before, after = fake.requests[1], fake.requests[2]
    assert after.contents[:3] == before.contents  # the same history, byte for byte
    assert after.contents[3].parts[-1].image == before.result_image
    assert after.contents[-1].parts[0].text == "Reference #hero:"
    assert "16:9" in str(after.generation_config)  # the chat's settings came along
    assert counts["turns"] == 4 and counts["refs"] == 1 and counts["images"] == 3
    assert ("turns", 4, 4) in seen and seen[-1][0] == "ref_images"
    assert "copied and verified: " in capsys.readouterr().out
