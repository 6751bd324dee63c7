"""Files: what users and the bot upload, photo sizes, documents, ``getFile``."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import time

from aiohttp import web
from PIL import Image

from tests.fakes.telegram.records import Call, Download, StoredFile
from tests.fakes.telegram.wire import (
    FILESIZE_DOWNLOAD,
    FILESIZE_UPLOAD,
    ApiError,
    JSONDict,
    bad_request,
)
from tests.fakes.telegram.world import TelegramWorld, Thumbnail

Upload = tuple[bytes, str, str]  # a multipart file part: bytes, filename, content type

# The start of an MP4 ("ftyp" box): what Telegram stores for a GIF. Nobody should decode it.
FAKE_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def jpeg_thumbnails(data: bytes) -> tuple[tuple[int, int], list[Thumbnail]]:
    """The image's size and its 90 px and 320 px JPEG thumbnails, as Telegram makes them.

    Bytes Pillow cannot read get a plausible size and themselves as thumbnails.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            thumbs: list[Thumbnail] = []
            for target in (90, 320):
                thumb = image.convert("RGB")
                thumb.thumbnail((target, target))
                buffer = io.BytesIO()
                thumb.save(buffer, format="JPEG", quality=80)
                thumbs.append((buffer.getvalue(), thumb.width, thumb.height))
    except (OSError, ValueError, Image.DecompressionBombError):
        return (1280, 960), [(data, 90, 68), (data, 320, 240)]
    return (width, height), thumbs


class TelegramFiles(TelegramWorld):
    """Stored files and the ``getFile`` method."""

    def _new_file(
        self,
        data: bytes,
        folder: str,
        extension: str,
        prefix: str,
        declared_size: int | None = None,
    ) -> StoredFile:
        number = next(self._ids)
        digest = hashlib.sha1(data).hexdigest()[:12]
        file_id = f"{prefix}AgADBAAD{number:06d}{digest}"
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=f"AQAD{number:06d}{digest[:6]}",
            data=data,
            file_size=declared_size if declared_size is not None else len(data),
            file_path=f"{folder}/file_{number}.{extension}",
        )
        self._files[file_id] = stored
        self._file_paths[stored.file_path] = file_id
        return stored

    def _store_photo(self, data: bytes) -> list[JSONDict]:
        """Three PhotoSize entries like Telegram: two thumbnails and the full image (original
        bytes and dimensions)."""
        sizes: list[JSONDict] = []
        (width, height), thumbs = (self._thumbnailer or jpeg_thumbnails)(data)
        for thumb_data, thumb_w, thumb_h in [*thumbs, (data, width, height)]:
            stored = self._new_file(thumb_data, "photos", "jpg", "AgAC")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": stored.file_size,
                    "width": thumb_w,
                    "height": thumb_h,
                }
            )
        for size in sizes:
            self._photo_groups[size["file_id"]] = sizes
        return copy.deepcopy(sizes)

    def _store_document(
        self, data: bytes, file_name: str, mime_type: str, declared_size: int | None
    ) -> JSONDict:
        extension = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
        stored = self._new_file(data, "documents", extension, "BQAC", declared_size)
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": stored.file_size,
        }
        self._documents[stored.file_id] = document
        return copy.deepcopy(document)

    def _get_file(self, call: Call) -> JSONDict:
        file_id = str(call.params.get("file_id", ""))
        stored = self._files.get(file_id)
        if stored is None:
            raise bad_request("wrong file_id or the file is temporarily unavailable")
        if stored.file_size > FILESIZE_DOWNLOAD:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    def file_bytes(self, file_id: str) -> bytes:
        """The bytes stored under ``file_id``."""
        return self._files[file_id].data

    def stored_file(self, file_id: str) -> StoredFile:
        """The stored file record for ``file_id``."""
        return self._files[file_id]

    def forget_file_bytes(self, file_id: str) -> None:
        """Drop a stored file's bytes, keeping its id, size and path (long benchmarks stay flat
        in memory; a later download gets an empty body)."""
        self._files[file_id] = dataclasses.replace(self._files[file_id], data=b"")

    @staticmethod
    def _upload_part(call: Call, part: str) -> Upload | None:
        """The multipart file part ``part`` as (bytes, filename, mime), None when absent."""
        if part not in call.files:
            return None
        filename, mime = call.file_meta.get(part, ("file", "application/octet-stream"))
        return call.files[part], filename, mime

    def _file_ref(self, call: Call, ref: str) -> Upload | str | None:
        """A file reference as the Bot API reads it: ``attach://<part>`` is that upload (None
        when the request has no such part), anything else a file id (or URL) as is."""
        if ref.startswith("attach://"):
            return self._upload_part(call, ref.removeprefix("attach://"))
        return ref

    def _input_bytes(self, call: Call, name: str) -> Upload | str:
        """An upload or a file id string for parameter ``name`` (its own part or attach://)."""
        source: Upload | str | None = self._upload_part(call, name)
        ref = call.params.get(name)
        if source is None and ref:
            source = self._file_ref(call, str(ref))
        if source is None:
            raise bad_request(f"there is no {name} in the request")
        return source

    def _photo_content(self, source: Upload | str) -> list[JSONDict]:
        if isinstance(source, str):
            sizes = self._photo_groups.get(source)
            if sizes is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            return copy.deepcopy(sizes)
        data = source[0]
        if len(data) > 10 * 1024 * 1024:
            raise bad_request("PHOTO_SAVE_FILE_INVALID")
        sizes = self._store_photo(data)
        width, height = sizes[-1]["width"], sizes[-1]["height"]
        if width + height > 10000:
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        return sizes

    def _document_content(self, source: Upload | str) -> JSONDict:
        if isinstance(source, str):
            document = self._documents.get(source)
            if document is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            return copy.deepcopy(document)
        data, filename, mime = source
        if len(data) > FILESIZE_UPLOAD:
            raise ApiError(413, "Request Entity Too Large")
        return self._store_document(data, filename, mime, None)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        path = request.match_info["path"]
        file_id = self._file_paths.get(path)
        if file_id is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        self.downloads.append(Download(path, file_id, time.monotonic()))
        self._log.changed()
        return web.Response(
            body=self._files[file_id].data, content_type="application/octet-stream"
        )
