"""server_versions: one row per published server version.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.String(255), nullable=False),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_message", sa.String(500), nullable=True),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trust_tier", sa.String(16), nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("server_json", sa.JSON(), nullable=False),
        sa.Column("curation", sa.JSON(), nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_server_versions_name_version"),
    )
    op.create_index("ix_server_versions_name", "server_versions", ["name"])
    op.create_index("ix_server_versions_latest_name", "server_versions", ["is_latest", "name"])
    op.create_index("ix_server_versions_updated_at", "server_versions", ["updated_at"])


def downgrade() -> None:
    op.drop_table("server_versions")
