"""The SQLite store, the embedded default: one database file and a folder of image files.

`schema` holds the tables and their migrations, `images` the content-addressed files,
`turn_rows` and `reference_rows` hold the statements for turns and references (the mapping
is `bot.store.rows`, shared with PostgreSQL), and `store` is the
`SqliteStore` built on them.
"""

from bot.store.sqlite.schema import ID_GAP, MIGRATIONS
from bot.store.sqlite.store import DB_NAME, SqliteStore

__all__ = ["DB_NAME", "ID_GAP", "MIGRATIONS", "SqliteStore"]
