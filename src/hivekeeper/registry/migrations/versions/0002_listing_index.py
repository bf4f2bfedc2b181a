"""A covering index for listing and substring search in name order.

Search scans ``search_text`` in this index instead of visiting every row, and stops at the page's end.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_server_versions_name", table_name="server_versions")
    op.create_index("ix_server_versions_listing", "server_versions", ["name", "status", "is_latest", "search_text"])


def downgrade() -> None:
    op.drop_index("ix_server_versions_listing", table_name="server_versions")
    op.create_index("ix_server_versions_name", "server_versions", ["name"])
