"""What tests hold and read: users, chats, recorded calls, stored files, downloads, deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tests.fakes.telegram.wire import JSONDict


@dataclass(frozen=True)
class FakeUser:
    """A Telegram user as the tests see it. ``to_dict()`` is the Bot API ``User`` object."""

    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = "en"
    last_name: str | None = None
    is_bot: bool = False

    def to_dict(self) -> JSONDict:
        data: JSONDict = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name is not None:
            data["last_name"] = self.last_name
        if self.username is not None:
            data["username"] = self.username
        if self.language_code is not None and not self.is_bot:
            data["language_code"] = self.language_code
        return data


@dataclass(frozen=True)
class FakeChat:
    """A chat. ``to_dict()`` is the Bot API ``Chat`` object embedded in messages."""

    id: int
    type: Literal["private", "group", "supergroup", "channel"]
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False

    def to_dict(self) -> JSONDict:
        data: JSONDict = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass
class Call:
    """One recorded Bot API request.

    ``params`` are JSON-decoded where the wire value is JSON (ints, bools, objects), ``files``
    are the multipart file parts by part name and ``file_meta`` their ``(filename, content_type)``.
    ``status``/``response`` are filled in when the fake answers (``None`` while a long poll is
    pending); ``response`` is the ``result`` on success and the error body otherwise.
    """

    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    time: float
    file_meta: dict[str, tuple[str, str]] = field(default_factory=dict)
    status: int | None = None
    response: Any = None

    @property
    def ok(self) -> bool:
        """Whether the fake answered with a 2xx."""
        return self.status is not None and 200 <= self.status < 300

    def upload(self, name: str | None = None) -> bytes:
        """Bytes of the uploaded part ``name`` (default: the only part).

        ``name`` may also be a parameter that points at a part: ``attach://<part>``, or an
        InputMedia whose ``media`` does; ``upload("media")`` reads editMessageMedia's file.
        """
        if name is None:
            if len(self.files) != 1:
                raise KeyError(f"{self.method} has {len(self.files)} file parts, name one")
            return next(iter(self.files.values()))
        if name in self.files:
            return self.files[name]
        ref = self.params.get(name)
        if isinstance(ref, dict):
            ref = ref.get("media")
        if isinstance(ref, str) and ref.startswith("attach://"):
            return self.files[ref.removeprefix("attach://")]
        raise KeyError(f"{self.method} has no upload {name!r}; parts: {sorted(self.files)}")

    def media_bytes(self) -> list[bytes | str]:
        """For sendMediaGroup (and editMessageMedia's single ``media``): the uploaded bytes of
        each item in order (a plain string file id / URL is returned as is)."""
        media = self.params.get("media", [])
        result: list[bytes | str] = []
        for item in media if isinstance(media, list) else [media]:
            ref = item.get("media", "")
            if isinstance(ref, str) and ref.startswith("attach://"):
                result.append(self.files[ref.removeprefix("attach://")])
            else:
                result.append(ref)
        return result


@dataclass
class StoredFile:
    """A file the fake stores, served by ``getFile`` and the file URL."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_size: int
    file_path: str


@dataclass(frozen=True)
class Download:
    """One download of a file by the bot."""

    file_path: str
    file_id: str
    time: float


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to POST an update to the bot's webhook."""

    update_id: int
    status: int | None  # None: connection failed
    error: str | None
    time: float
