"""Split plain text into chunks a platform accepts, at the gentlest boundary available."""

from __future__ import annotations


def split_text(text: str, limit: int, *, first_limit: int | None = None) -> list[str]:
    """Split `text` into chunks of at most `limit` characters (`first_limit` for the first).

    Prefers paragraph, then line, then word boundaries; never drops a character that is not
    whitespace at a cut. Counts code points; callers with UTF-16 limits pass a safe margin.
    """
    chunks: list[str] = []
    rest = text.strip()
    size = first_limit or limit
    while len(rest) > size:
        window = rest[: size + 1]  # one more: a boundary right after the limit still counts
        cut = max(window.rfind("\n"), window.rfind(" "))
        if cut < size // 2:  # no gentle boundary in the second half: cut hard
            cut = size
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
        size = limit
    if rest:
        chunks.append(rest)
    return chunks
