"""SQLite only: a trigram full-text index answering substring search without scanning every entry.

An external-content FTS5 table over ``server_versions.search_text``, kept in step by triggers. Skipped
on other databases, and on SQLite builds without FTS5 trigrams (search then scans the listing index).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATEMENTS = [
    "CREATE VIRTUAL TABLE server_search USING fts5("
    "search_text, content='server_versions', content_rowid='id', tokenize='trigram')",
    "INSERT INTO server_search(server_search) VALUES ('rebuild')",
    "CREATE TRIGGER server_search_insert AFTER INSERT ON server_versions BEGIN "
    "INSERT INTO server_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER server_search_delete AFTER DELETE ON server_versions BEGIN "
    "INSERT INTO server_search(server_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER server_search_update AFTER UPDATE OF search_text ON server_versions BEGIN "
    "INSERT INTO server_search(server_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO server_search(rowid, search_text) VALUES (new.id, new.search_text); END",
]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    try:
        bind.exec_driver_sql("CREATE VIRTUAL TABLE temp.trigram_probe USING fts5(x, tokenize='trigram')")
        bind.exec_driver_sql("DROP TABLE temp.trigram_probe")
    except sa.exc.OperationalError:
        return  # no FTS5 trigram tokenizer in this SQLite
    for statement in STATEMENTS:
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for name in ("server_search_insert", "server_search_delete", "server_search_update"):
        bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    bind.exec_driver_sql("DROP TABLE IF EXISTS server_search")
