"""The registry's data operations: publish, import, list with keyset pagination, versions, status.

Every write is one transaction that also moves the ``is_latest`` flag, so a crash at any point leaves
either the old catalogue or the new one. Writers serialise per database (SQLite ``BEGIN IMMEDIATE``) or
per server name (a PostgreSQL advisory lock), so two publishes never both become "latest".
"""

from __future__ import annotations

import base64
import binascii
import builtins
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select, text, update
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session

from hivekeeper.errors import ConfigError, ConflictError, HivekeeperError, NotFoundError, UnavailableError
from hivekeeper.registry.curation import (
    CURATION_META,
    OFFICIAL_META,
    Status,
    TrustTier,
    content_hash,
    curate,
    search_text,
)
from hivekeeper.registry.db import ServerVersion, create_registry_engine, migrate, utcnow
from hivekeeper.registry.validation import validate_server_json
from hivekeeper.registry.versions import is_newer

DEFAULT_LIMIT = 30
MAX_LIMIT = 100


class ImportOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def _aware(moment: datetime) -> datetime:
    # SQLite hands datetimes back without a zone; everything is stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rfc3339(moment: datetime) -> str:
    return _aware(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Entry:
    """One server version as the API serves it."""

    name: str
    version: str
    is_latest: bool
    status: Status
    status_message: str | None
    status_changed_at: datetime
    published_at: datetime
    updated_at: datetime
    trust_tier: TrustTier
    source: str
    content_hash: str
    server: dict[str, Any]
    curation: dict[str, Any]

    @classmethod
    def from_row(cls, row: Any) -> Entry:
        """From a ``ServerVersion`` object or a plain row of its table (same attribute names)."""
        curation = dict(row.curation)
        curation["trustTier"] = row.trust_tier
        curation["source"] = row.source
        return cls(
            name=row.name,
            version=row.version,
            is_latest=row.is_latest,
            status=Status(row.status),
            status_message=row.status_message,
            status_changed_at=_aware(row.status_changed_at),
            published_at=_aware(row.published_at),
            updated_at=_aware(row.updated_at),
            trust_tier=TrustTier(row.trust_tier),
            source=row.source,
            content_hash=row.content_hash,
            server=row.server_json,
            curation=curation,
        )

    def official_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "status": str(self.status),
            "statusChangedAt": _rfc3339(self.status_changed_at),
            "publishedAt": _rfc3339(self.published_at),
            "updatedAt": _rfc3339(self.updated_at),
            "isLatest": self.is_latest,
        }
        if self.status_message:
            meta["statusMessage"] = self.status_message
        return meta

    def to_response(self) -> dict[str, Any]:
        """The official ``ServerResponse`` shape, with hivekeeper's curation as an extra ``_meta`` key."""
        return {"server": self.server, "_meta": {OFFICIAL_META: self.official_meta(), CURATION_META: self.curation}}

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.curation.get("findings") or [])


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[Entry]
    next_cursor: str | None

    def to_response(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {"count": len(self.entries)}
        if self.next_cursor:
            metadata["nextCursor"] = self.next_cursor
        return {"servers": [entry.to_response() for entry in self.entries], "metadata": metadata}


class _Known:
    """The stored versions of the names a write touches, read in one query per 500 names, so that a
    batch of writes runs no query per entry (the rows stay attached to the writing session)."""

    def __init__(self, session: Session, names: Iterable[str]) -> None:
        self._rows: dict[str, builtins.list[ServerVersion]] = {}
        unique = sorted(set(names))
        for start in range(0, len(unique), 500):
            query = select(ServerVersion).where(ServerVersion.name.in_(unique[start : start + 500]))
            for row in session.scalars(query):
                self._rows.setdefault(row.name, []).append(row)

    def get(self, name: str, version: str) -> ServerVersion | None:
        return next((row for row in self._rows.get(name, ()) if row.version == version), None)

    def latest(self, name: str) -> ServerVersion | None:
        return next((row for row in self._rows.get(name, ()) if row.is_latest), None)

    def add(self, row: ServerVersion) -> None:
        self._rows.setdefault(row.name, []).append(row)


def _has_table(engine: Engine, name: str) -> bool:
    with engine.connect() as connection:
        found = connection.execute(text("SELECT 1 FROM sqlite_master WHERE name = :name"), {"name": name}).first()
    return found is not None


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode())


def encode_cursor(name: str, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{row_id}:{name}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        row_id, name = raw.split(":", 1)
        return name, int(row_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError("cursor: not a cursor this registry returned") from exc


def _like_pattern(term: str) -> str:
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class RegistryStore:
    """All reads and writes of the registry database. Thread-safe; share one per process."""

    # Substring searches with at most this many trigram-index hits are answered from the index; more
    # common terms scan the listing index in name order, which stops as soon as a page is full.
    TRIGRAM_CANDIDATES = 500

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._is_sqlite = engine.dialect.name == "sqlite"
        self._trigram_index = self._is_sqlite and _has_table(engine, "server_search")

    @classmethod
    def open(cls, url: str) -> RegistryStore:
        """Connect to ``url`` and run the migrations; a bad or unreachable database is a one-line error."""
        try:
            engine = create_registry_engine(url)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise ConfigError(f"registry.database_url: not a usable database URL: {exc}") from exc
        try:
            migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise UnavailableError(f"registry database {engine.url.render_as_string()} unavailable: {reason}") from exc
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _writing(self, name: str | None = None) -> Iterator[Session]:
        with self.engine.connect() as connection:
            connection = connection.execution_options(hivekeeper_write=True)
            with Session(bind=connection) as session, session.begin():
                if name is not None and not self._is_sqlite:
                    # Per-name lock: concurrent publishes of one server agree on which one is latest.
                    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _name_key(name)})
                yield session

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session

    # -- writes -------------------------------------------------------------------------------------

    def publish(
        self, document: Mapping[str, Any], *, tier: TrustTier = TrustTier.COMMUNITY, source: str = "publish"
    ) -> Entry:
        """Add a new version; an existing ``name``+``version`` is a conflict (published versions are immutable)."""
        server = validate_server_json(document)
        with self._writing(server["name"]) as session:
            known = _Known(session, [server["name"]])
            if known.get(server["name"], server["version"]) is not None:
                raise ConflictError(f"{server['name']} {server['version']} is already published; publish a new version")
            return Entry.from_row(self._insert(session, known, server, tier, source))

    def import_entry(self, document: Mapping[str, Any], *, tier: TrustTier, source: str) -> tuple[ImportOutcome, Entry]:
        """Add or refresh an entry owned by a sync ``source``; unchanged content (same hash) is a no-op."""
        server = validate_server_json(document)
        with self._writing(server["name"]) as session:
            return self._import(session, _Known(session, [server["name"]]), server, tier, source)

    def import_entries(
        self, documents: Iterable[Mapping[str, Any]], *, tier: TrustTier, source: str
    ) -> builtins.list[tuple[ImportOutcome, Entry] | HivekeeperError]:
        """:meth:`import_entry` for many documents in one transaction (one disk sync instead of one each).

        Each result is the outcome, or the error that rejected that document; a rejected document
        writes nothing and does not stop the others.
        """
        results: builtins.list[tuple[ImportOutcome, Entry] | HivekeeperError] = []
        valid: builtins.list[tuple[int, dict[str, Any]]] = []
        for document in documents:
            try:
                valid.append((len(results), validate_server_json(document)))
                results.append(ConfigError("not imported"))  # replaced below
            except HivekeeperError as exc:
                results.append(exc)
        if not valid:
            return results
        names = sorted({server["name"] for _, server in valid})
        with self._writing() as session:
            if not self._is_sqlite:
                # Every name's lock, in one sorted pass: two batches can never wait on each other in a cycle.
                keys = sorted({_name_key(name) for name in names})
                session.execute(text("SELECT pg_advisory_xact_lock(key) FROM unnest(:keys) AS key"), {"keys": keys})
            known = _Known(session, names)
            for index, server in valid:
                try:
                    results[index] = self._import(session, known, server, tier, source)
                except ConflictError as exc:  # raised before anything of this entry was written
                    results[index] = exc
        return results

    def _import(
        self, session: Session, known: _Known, server: dict[str, Any], tier: TrustTier, source: str
    ) -> tuple[ImportOutcome, Entry]:
        row = known.get(server["name"], server["version"])
        if row is None:
            return ImportOutcome.CREATED, Entry.from_row(self._insert(session, known, server, tier, source))
        if row.source != source:
            raise ConflictError(
                f"{server['name']} {server['version']} already comes from {row.source!r}, not {source!r}"
            )
        digest = content_hash(server)
        if row.content_hash == digest and row.trust_tier == str(tier):
            return ImportOutcome.UNCHANGED, Entry.from_row(row)
        row.server_json = server
        row.content_hash = digest
        row.search_text = search_text(server)
        row.trust_tier = str(tier)
        row.curation = curate(server, tier=tier, source=source)
        row.updated_at = utcnow()
        return ImportOutcome.UPDATED, Entry.from_row(row)

    def _insert(
        self, session: Session, known: _Known, server: dict[str, Any], tier: TrustTier, source: str
    ) -> ServerVersion:
        now = utcnow()
        current = known.latest(server["name"])
        becomes_latest = current is None or is_newer(server["version"], current.version)
        if current is not None and becomes_latest:
            current.is_latest = False
            current.updated_at = now
        row = ServerVersion(
            name=server["name"],
            version=server["version"],
            is_latest=becomes_latest,
            status=str(Status.ACTIVE),
            status_changed_at=now,
            published_at=now,
            updated_at=now,
            trust_tier=str(tier),
            source=source,
            content_hash=content_hash(server),
            search_text=search_text(server),
            server_json=server,
            curation=curate(server, tier=tier, source=source),
        )
        session.add(row)
        known.add(row)
        return row

    def set_status(
        self, name: str, version: str | None, status: Status, message: str | None = None
    ) -> builtins.list[Entry]:
        """Change the status of one version, or of every version when ``version`` is None."""
        with self._writing(name) as session:
            query = select(ServerVersion).where(ServerVersion.name == name)
            if version is not None:
                query = self._version_filter(query, version)
            rows = list(session.scalars(query))
            if not rows:
                raise NotFoundError(f"{name}{' ' + version if version else ''}: no such server version")
            now = utcnow()
            for row in rows:
                row.status, row.status_message = str(status), message
                row.status_changed_at = row.updated_at = now
            session.flush()
            return [Entry.from_row(row) for row in rows]

    def set_tier(self, name: str, tier: TrustTier) -> int:
        """Set the trust tier of every version of ``name``; returns how many changed."""
        with self._writing(name) as session:
            result = session.execute(
                update(ServerVersion)
                .where(ServerVersion.name == name)
                .values(trust_tier=str(tier), updated_at=utcnow())
            )
            count = int(getattr(result, "rowcount", 0))
            if count == 0:
                raise NotFoundError(f"{name}: no such server")
            return count

    # -- reads --------------------------------------------------------------------------------------

    @staticmethod
    def _version_filter(query: Any, version: str) -> Any:
        if version == "latest":
            return query.where(ServerVersion.is_latest.is_(True))
        return query.where(ServerVersion.version == version)

    def list(
        self,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_LIMIT,
        search: str | None = None,
        updated_since: datetime | None = None,
        version: str | None = None,
        include_deleted: bool = False,
        tier: TrustTier | None = None,
    ) -> Page:
        if not 1 <= limit <= MAX_LIMIT:
            raise ConfigError(f"limit: must be between 1 and {MAX_LIMIT}")
        # Plain rows, not ORM objects: a page is read-only and this is the hot path.
        query = select(*ServerVersion.__table__.columns)
        if search:
            query = query.where(ServerVersion.search_text.like(_like_pattern(search), escape="\\"))
        if updated_since is not None:
            query = query.where(ServerVersion.updated_at > updated_since.astimezone(UTC))
        elif not include_deleted:
            # The official registry always includes deleted entries in incremental (updated_since) syncs.
            query = query.where(ServerVersion.status != str(Status.DELETED))
        if version:
            query = self._version_filter(query, version)
        if tier is not None:
            query = query.where(ServerVersion.trust_tier == str(tier))
        if cursor:
            after_name, after_id = decode_cursor(cursor)
            query = query.where(
                or_(
                    ServerVersion.name > after_name,
                    and_(ServerVersion.name == after_name, ServerVersion.id > after_id),
                )
            )
        query = query.order_by(ServerVersion.name, ServerVersion.id).limit(limit + 1)
        with self._reading() as session:
            if search and self._trigram_index and len(search) >= 3:
                candidates = self._trigram_candidates(session, search)
                if candidates is not None:
                    query = query.where(ServerVersion.id.in_(candidates))
            rows = list(session.execute(query))
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].name, rows[-1].id) if more else None
        return Page([Entry.from_row(row) for row in rows], next_cursor)

    def _trigram_candidates(self, session: Session, term: str) -> builtins.list[int] | None:
        """Ids of the rows whose text contains ``term`` (a superset is fine: LIKE still filters), or
        None when there are too many for an id list to beat the ordered scan."""
        phrase = '"' + term.lower().replace('"', '""') + '"'
        ids = session.scalars(
            text("SELECT rowid FROM server_search WHERE server_search MATCH :phrase LIMIT :cap"),
            {"phrase": phrase, "cap": self.TRIGRAM_CANDIDATES + 1},
        ).all()
        return None if len(ids) > self.TRIGRAM_CANDIDATES else [int(row_id) for row_id in ids]

    def versions(self, name: str, *, include_deleted: bool = False) -> builtins.list[Entry]:
        """Every version of ``name``, newest publication first."""
        query = select(ServerVersion).where(ServerVersion.name == name)
        if not include_deleted:
            query = query.where(ServerVersion.status != str(Status.DELETED))
        with self._reading() as session:
            rows = list(session.scalars(query.order_by(ServerVersion.published_at.desc(), ServerVersion.id.desc())))
        if not rows:
            raise NotFoundError(f"{name}: no such server")
        return [Entry.from_row(row) for row in rows]

    def get(self, name: str, version: str = "latest", *, include_deleted: bool = False) -> Entry:
        query = self._version_filter(select(ServerVersion).where(ServerVersion.name == name), version)
        with self._reading() as session:
            row = session.scalars(query).first()
        if row is None or (row.status == Status.DELETED and not include_deleted):
            raise NotFoundError(f"{name} {version}: no such server version")
        return Entry.from_row(row)

    def latest_entries(self) -> builtins.list[Entry]:
        """The latest version of every server that is not deleted, by name."""
        query = (
            select(ServerVersion)
            .where(ServerVersion.is_latest.is_(True), ServerVersion.status != str(Status.DELETED))
            .order_by(ServerVersion.name)
        )
        with self._reading() as session:
            return [Entry.from_row(row) for row in session.scalars(query)]

    def fingerprint(self) -> tuple[int, str]:
        """Changes whenever any entry is added or changed: (row count, newest update time)."""
        with self._reading() as session:
            count, newest = session.execute(
                select(func.count(), func.max(ServerVersion.updated_at)).select_from(ServerVersion)
            ).one()
        return int(count or 0), str(newest)

    def count(self) -> int:
        with self._reading() as session:
            return int(session.scalar(select(func.count()).select_from(ServerVersion)) or 0)


__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Entry",
    "ImportOutcome",
    "Page",
    "RegistryStore",
    "decode_cursor",
    "encode_cursor",
]
