"""The SQLite schema: the first version's tables and the ordered migrations that reach today's.

`PRAGMA user_version` counts the migrations applied. Each runs in its own transaction with
foreign keys off, and commits only when every reference still holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial

from bot.store.sqlite.connection import transaction

_SCHEMA_1 = """
        CREATE TABLE lineages (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            lineage_id INTEGER NOT NULL REFERENCES lineages(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES turns(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'model')),
            author_id TEXT NOT NULL,
            status TEXT NOT NULL,
            model TEXT,
            error TEXT,
            created_at REAL NOT NULL
        );
        CREATE INDEX turns_parent ON turns(parent_id);
        CREATE INDEX turns_status ON turns(status) WHERE status = 'pending';
        CREATE TABLE images (
            sha256 TEXT PRIMARY KEY,
            mime_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE parts (
            turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            text TEXT,
            image_sha256 TEXT REFERENCES images(sha256),
            thought INTEGER NOT NULL DEFAULT 0,
            raw TEXT,
            PRIMARY KEY (turn_id, idx)
        ) WITHOUT ROWID;
        CREATE INDEX parts_image ON parts(image_sha256) WHERE image_sha256 IS NOT NULL;
        CREATE TABLE links (
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
            PRIMARY KEY (platform, chat_id, message_id)
        ) WITHOUT ROWID;
        CREATE INDEX links_turn ON links(turn_id);
        CREATE TABLE chats (
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            latest_turn_id INTEGER REFERENCES turns(id) ON DELETE SET NULL,
            settings TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (platform, chat_id)
        ) WITHOUT ROWID;
        CREATE TABLE usage (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            turn_id INTEGER REFERENCES turns(id) ON DELETE SET NULL,
            images INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            total_tokens INTEGER NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX usage_user ON usage(platform, user_id, created_at);
        CREATE INDEX usage_chat ON usage(platform, chat_id, created_at);
"""


def _migration_1(db: sqlite3.Connection, upgrading: bool) -> None:
    # Statement by statement: executescript() would COMMIT the migration's transaction early.
    for statement in _SCHEMA_1.split(";"):
        if statement.strip():
            db.execute(statement)


def _migration_2(db: sqlite3.Connection, upgrading: bool) -> None:
    # Quotas pool usage per Discord guild (or per chat); interrupted turns are announced in
    # their author's language; retention and /forget look turns up by age and author.
    db.execute("ALTER TABLE usage ADD COLUMN pool TEXT")
    db.execute("UPDATE usage SET pool = chat_id")
    db.execute("CREATE INDEX usage_pool ON usage(platform, pool, created_at)")
    db.execute("ALTER TABLE turns ADD COLUMN locale TEXT")
    db.execute("CREATE INDEX turns_author ON turns(author_id)")
    db.execute("CREATE INDEX turns_created ON turns(created_at)")


# Buttons and links carry row ids (Telegram callback data, Discord custom ids), so an id must
# never name a second row. Until version 3 SQLite gave a new row max(id) + 1: once /forget or
# retention deleted the newest rows, their ids were handed out again, and nothing in the database
# remembers them. So an upgraded database starts each sequence this far past its highest id: the
# ids above it that old buttons can name are one run of deleted rows (the whole table's, when
# retention emptied it), and no bot deleted a billion. Ids are 64-bit, and "r:" with 19 digits
# still fits Telegram's 64-byte callback data.
ID_GAP = 1_000_000_000

# Version 3 as a table rebuild: (table, its new definition, its columns, its indexes). Each
# definition is the table exactly as versions 1 and 2 left it, plus AUTOINCREMENT.
_REBUILDS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "lineages",
        """
        CREATE TABLE lineages_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        "id, platform, chat_id, created_at",
        (),
    ),
    (
        "turns",
        """
        CREATE TABLE turns_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            lineage_id INTEGER NOT NULL REFERENCES lineages(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES turns(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'model')),
            author_id TEXT NOT NULL,
            status TEXT NOT NULL,
            model TEXT,
            error TEXT,
            created_at REAL NOT NULL,
            locale TEXT
        )""",
        "id, lineage_id, parent_id, role, author_id, status, model, error, created_at, locale",
        (
            "CREATE INDEX turns_parent ON turns(parent_id)",
            "CREATE INDEX turns_status ON turns(status) WHERE status = 'pending'",
            "CREATE INDEX turns_author ON turns(author_id)",
            "CREATE INDEX turns_created ON turns(created_at)",
        ),
    ),
    (
        "usage",
        """
        CREATE TABLE usage_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            turn_id INTEGER REFERENCES turns(id) ON DELETE SET NULL,
            images INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            total_tokens INTEGER NOT NULL,
            created_at REAL NOT NULL,
            pool TEXT
        )""",
        "id, platform, chat_id, user_id, turn_id, images, prompt_tokens, output_tokens,"
        " total_tokens, created_at, pool",
        (
            "CREATE INDEX usage_user ON usage(platform, user_id, created_at)",
            "CREATE INDEX usage_chat ON usage(platform, chat_id, created_at)",
            "CREATE INDEX usage_pool ON usage(platform, pool, created_at)",
        ),
    ),
)


def _migration_3(db: sqlite3.Connection, upgrading: bool) -> None:
    # Ids are never reused (see ID_GAP). SQLite cannot add AUTOINCREMENT to a column, so this is
    # its 12-step ALTER procedure (sqlite.org/lang_altertable.html#otheralter); `_migrate` has
    # turned foreign keys off, so dropping a table fires no ON DELETE action on the rows that
    # refer to it, and checks them before committing. The copy takes the old name; renaming the
    # old table away instead would re-point the other tables' REFERENCES at it.
    gap = ID_GAP if upgrading else 0
    for table, create, columns, indexes in _REBUILDS:
        db.execute(create)
        db.execute(f"INSERT INTO {table}_new ({columns}) SELECT {columns} FROM {table}")
        db.execute(f"DROP TABLE {table}")  # its indexes go with it
        db.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
        for index in indexes:
            db.execute(index)
        # The copy recorded its highest id; what matters is every id issued before the upgrade.
        db.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        db.execute(
            "INSERT INTO sqlite_sequence (name, seq)"
            f" SELECT ?, COALESCE(MAX(id), 0) + ? FROM {table}",
            (table, gap),
        )


# Each migration gets the connection and whether the database held data before this start-up
# (False while a new database is being created).
Migration = Callable[[sqlite3.Connection, bool], None]


def _migration_4(db: sqlite3.Connection, upgrading: bool) -> None:
    """How each answer was made and what it cost (Info, /usage): on its usage row."""
    for column in (
        "seconds REAL NOT NULL DEFAULT 0",
        "cost_usd REAL NOT NULL DEFAULT 0",
        "image_size TEXT",
        "aspect_ratio TEXT",
    ):
        db.execute(f"ALTER TABLE usage ADD COLUMN {column}")


def _migration_5(db: sqlite3.Connection, upgrading: bool) -> None:
    """References (#NAME): a name in a scope, and its images in order."""
    db.execute(
        """CREATE TABLE refs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            platform TEXT NOT NULL,
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            name TEXT NOT NULL,
            owner_id TEXT NOT NULL,
            prompt TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            UNIQUE (platform, scope, key)
        )"""
    )
    db.execute("CREATE INDEX refs_owner ON refs(platform, owner_id)")
    db.execute(
        """CREATE TABLE ref_images (
            ref_id INTEGER NOT NULL REFERENCES refs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            image_sha256 TEXT NOT NULL REFERENCES images(sha256),
            PRIMARY KEY (ref_id, idx)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX ref_images_image ON ref_images(image_sha256)")


def _migration_6(db: sqlite3.Connection, upgrading: bool) -> None:
    """Coordination (`bot.coordination`): the run serving each user turn, the holds of
    running steps on limits, shared marks, and album items being gathered."""
    db.execute("ALTER TABLE turns ADD COLUMN run TEXT")
    db.execute(
        """CREATE TABLE holds (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run TEXT NOT NULL,
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            pool TEXT NOT NULL,
            images INTEGER NOT NULL,
            cost_usd REAL NOT NULL,
            created_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX holds_user ON holds(platform, user_id)")
    db.execute("CREATE INDEX holds_pool ON holds(platform, pool)")
    db.execute("CREATE TABLE marks (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        """CREATE TABLE gathered (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL,
            item TEXT NOT NULL,
            arrived_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX gathered_key ON gathered(key)")


MIGRATIONS: tuple[Migration, ...] = (
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
    _migration_6,
)


def migrate(db: sqlite3.Connection) -> None:
    """Apply the migrations `db` has not seen yet, each in a transaction of its own."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version >= len(MIGRATIONS):
        return
    # Schema changes run with foreign keys off, as SQLite's ALTER procedure asks: dropping a
    # rebuilt table would otherwise cascade into every row that refers to it. The pragma is
    # a no-op inside a transaction, so it is switched around them; each migration commits
    # only when its references still hold.
    db.execute("PRAGMA foreign_keys=OFF")
    try:
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            transaction(
                db, partial(_apply, migration=migration, number=number, upgrading=version > 0)
            )
    finally:
        db.execute("PRAGMA foreign_keys=ON")


def _apply(db: sqlite3.Connection, migration: Migration, number: int, upgrading: bool) -> None:
    migration(db, upgrading)
    broken = db.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        table, _, parent, _ = broken[0]
        raise sqlite3.IntegrityError(
            f"migration {number} would leave {len(broken)} broken references,"
            f" the first from {table} to {parent}"
        )
    db.execute(f"PRAGMA user_version={number}")
