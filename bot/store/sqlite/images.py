"""Image bytes as content-addressed files: `images/ab/abcdef…`, named by their sha256.

Bytes never enter SQLite. A file is written to a temp file and renamed, so a crash leaves no
torn image, and identical bytes land in one file. File work runs in worker threads.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path


class ImageFiles:
    """The folder of image files; the `images` table says which of them are in use."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def create_folder(self) -> None:
        """Make the folder if it does not exist yet."""
        self._folder.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        """Where the file of an image lives."""
        return self._folder / sha256[:2] / sha256

    async def write(self, data: bytes) -> str:
        """Write `data` once under its sha256, which this returns (in a worker thread)."""
        return await asyncio.to_thread(self._hash_and_write, data)

    def _hash_and_write(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.ensure(data, digest)
        return digest

    async def read(self, sha256: str) -> bytes:
        """The bytes of an image; `FileNotFoundError` when there is no such file."""
        return await asyncio.to_thread(self.path(sha256).read_bytes)

    def remove_now(self, digests: Iterable[str]) -> None:
        """Delete the files of these images (missing ones are fine), blocking."""
        for digest in digests:
            self.path(digest).unlink(missing_ok=True)

    def ensure(self, data: bytes, digest: str) -> None:
        """Write `data` under `digest` unless its file exists, blocking."""
        target = self.path(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            # Unique per process and thread (a thread writes one file at a time), so no
            # mkstemp name search; written, then renamed, so no reader sees a torn file.
            tmp = target.with_name(f".{digest}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                tmp.write_bytes(data)
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
