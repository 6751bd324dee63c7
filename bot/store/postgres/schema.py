"""The PostgreSQL schema, as ordered migrations; `schema_version` counts those applied.

Images live in the database (content-addressed, in 1 MiB chunks), so an instance keeps nothing
on its own disk. Ids come from sequences, which never hand out a number twice.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE lineages (
        id BIGSERIAL PRIMARY KEY,
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE turns (
        id BIGSERIAL PRIMARY KEY,
        lineage_id BIGINT NOT NULL REFERENCES lineages(id) ON DELETE CASCADE,
        parent_id BIGINT REFERENCES turns(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('user', 'model')),
        author_id TEXT NOT NULL,
        status TEXT NOT NULL,
        model TEXT,
        error TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        locale TEXT
    );
    CREATE INDEX turns_parent ON turns(parent_id);
    CREATE INDEX turns_pending ON turns(status) WHERE status = 'pending';
    CREATE INDEX turns_author ON turns(author_id);
    CREATE INDEX turns_created ON turns(created_at);
    CREATE TABLE images (
        sha256 TEXT PRIMARY KEY,
        mime_type TEXT NOT NULL,
        size BIGINT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE image_chunks (
        sha256 TEXT NOT NULL REFERENCES images(sha256) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        data BYTEA NOT NULL,
        PRIMARY KEY (sha256, idx)
    );
    CREATE TABLE parts (
        turn_id BIGINT NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        text TEXT,
        image_sha256 TEXT REFERENCES images(sha256),
        thought BOOLEAN NOT NULL DEFAULT FALSE,
        raw TEXT,
        PRIMARY KEY (turn_id, idx)
    );
    CREATE INDEX parts_image ON parts(image_sha256) WHERE image_sha256 IS NOT NULL;
    CREATE TABLE links (
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        turn_id BIGINT NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
        PRIMARY KEY (platform, chat_id, message_id)
    );
    CREATE INDEX links_turn ON links(turn_id);
    CREATE TABLE chats (
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        latest_turn_id BIGINT REFERENCES turns(id) ON DELETE SET NULL,
        settings TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (platform, chat_id)
    );
    CREATE TABLE usage (
        id BIGSERIAL PRIMARY KEY,
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        pool TEXT NOT NULL,
        user_id TEXT NOT NULL,
        turn_id BIGINT REFERENCES turns(id) ON DELETE SET NULL,
        images INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        total_tokens INTEGER NOT NULL,
        seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
        cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
        image_size TEXT,
        aspect_ratio TEXT,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX usage_user ON usage(platform, user_id, created_at);
    CREATE INDEX usage_pool ON usage(platform, pool, created_at);
    CREATE INDEX usage_turn ON usage(turn_id);
    CREATE TABLE refs (
        id BIGSERIAL PRIMARY KEY,
        platform TEXT NOT NULL,
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        owner_id TEXT NOT NULL,
        prompt TEXT NOT NULL DEFAULT '',
        created_at DOUBLE PRECISION NOT NULL,
        UNIQUE (platform, scope, key)
    );
    CREATE INDEX refs_owner ON refs(platform, owner_id);
    CREATE TABLE ref_images (
        ref_id BIGINT NOT NULL REFERENCES refs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        image_sha256 TEXT NOT NULL REFERENCES images(sha256),
        PRIMARY KEY (ref_id, idx)
    );
    CREATE INDEX ref_images_image ON ref_images(image_sha256);
    """,
    # 2: coordination of several instances (bot.coordination)
    """
    ALTER TABLE turns ADD COLUMN run TEXT;
    CREATE TABLE instances (
        name TEXT PRIMARY KEY,
        run TEXT NOT NULL,
        started_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE image_holds (
        sha256 TEXT NOT NULL,
        run TEXT NOT NULL,
        until DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (sha256, run)
    );
    CREATE TABLE holds (
        id BIGSERIAL PRIMARY KEY,
        run TEXT NOT NULL,
        platform TEXT NOT NULL,
        user_id TEXT NOT NULL,
        pool TEXT NOT NULL,
        images INTEGER NOT NULL,
        cost_usd DOUBLE PRECISION NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX holds_user ON holds(platform, user_id);
    CREATE INDEX holds_pool ON holds(platform, pool);
    CREATE INDEX holds_run ON holds(run);
    CREATE TABLE marks (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE gathered (
        id BIGSERIAL PRIMARY KEY,
        key TEXT NOT NULL,
        item TEXT NOT NULL,
        arrived_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX gathered_key ON gathered(key);
    """,
    # 3: image holds count the steps of a run that hold the image (no per-process tally)
    """
    ALTER TABLE image_holds ADD COLUMN holds INTEGER NOT NULL DEFAULT 1;
    """,
)
