"""Registry storage: SQLAlchemy 2 models, engines for SQLite (WAL) and PostgreSQL, alembic at start."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, Boolean, DateTime, Engine, Index, Integer, String, Text, UniqueConstraint, create_engine
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from hivekeeper import paths


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class ServerVersion(Base):
    """One published version of one server: the ``server.json`` as published plus registry curation."""

    __tablename__ = "server_versions"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_server_versions_name_version"),
        Index("ix_server_versions_latest_name", "is_latest", "name"),
        # Covers listing and substring search in name order (see migration 0002).
        Index("ix_server_versions_listing", "name", "status", "is_latest", "search_text"),
        Index("ix_server_versions_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(255))
    is_latest: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_message: Mapped[str | None] = mapped_column(String(500), nullable=True)
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    trust_tier: Mapped[str] = mapped_column(String(16), default="community")
    source: Mapped[str] = mapped_column(String(300), default="publish")
    content_hash: Mapped[str] = mapped_column(String(64))
    # Lower-cased name, title and description: substring search without a function per row.
    search_text: Mapped[str] = mapped_column(Text)
    server_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    curation: Mapped[dict[str, Any]] = mapped_column(JSON)


DATABASE_URL_VARIABLE = "HIVEKEEPER_REGISTRY_DATABASE_URL"


def default_database_url() -> str:
    """The URL when none is configured: the environment's (a secret, e.g. in a Kubernetes pod), else SQLite."""
    return os.environ.get(DATABASE_URL_VARIABLE) or f"sqlite:///{paths.ensure(paths.data_dir()) / 'registry.db'}"


def without_password(url: str) -> str:
    """``url`` with any password removed: for URLs that get stored (libpq then reads PGPASSWORD or ~/.pgpass)."""
    parsed = make_url(url)
    return parsed._replace(password=None).render_as_string(hide_password=False) if parsed.password else url


def _sqlite_pragmas(dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
    # Let the "begin" event below choose the kind of transaction (pysqlite would pick DEFERRED itself).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run during a publish; FULL makes an acknowledged publish survive a crash.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A write transaction takes the write lock up front: a deferred one that reads first can fail with
    # "database is locked" instead of waiting its turn.
    immediate = connection.get_execution_options().get("hivekeeper_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_registry_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL and their folder created."""
    if url.startswith("sqlite"):
        database = url.split("///", 1)[1] if "///" in url else ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
        sa_event.listen(engine, "connect", _sqlite_pragmas)
        sa_event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; runs at every start)."""
    config = Config()
    config.set_main_option("script_location", "hivekeeper.registry:migrations")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)


__all__ = [
    "Base",
    "ServerVersion",
    "create_registry_engine",
    "default_database_url",
    "migrate",
    "session_factory",
    "utcnow",
]
