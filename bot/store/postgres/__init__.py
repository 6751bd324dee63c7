"""The PostgreSQL store (asyncpg): for several instances over one shared database."""

from bot.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
