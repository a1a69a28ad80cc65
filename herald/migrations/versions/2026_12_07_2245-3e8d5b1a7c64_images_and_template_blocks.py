"""images and template blocks

Revision ID: 3e8d5b1a7c64
Revises: 5d2b8e6f0a17
Created: 2026-12-07 22:30:00

The image library (`images`, the bytes in the row) and saved MJML blocks (`template_blocks`)
for the email editor (issue 20). New tables only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.db

revision: str = "3e8d5b1a7c64"
down_revision: str | None = "5d2b8e6f0a17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("filename", sa.String(length=120), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_images_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("public_id", name=op.f("uq_images_public_id")),
    )
    with op.batch_alter_table("images") as batch_op:
        batch_op.create_index("ix_images_org_id_created_at", ["org_id", "created_at"], unique=False)
    op.create_table(
        "template_blocks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("mjml", sa.Text(), nullable=False),
        sa.Column("created_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_template_blocks_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_blocks")),
    )
    with op.batch_alter_table("template_blocks") as batch_op:
        batch_op.create_index(
            "ix_template_blocks_org_id_created_at", ["org_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("template_blocks") as batch_op:
        batch_op.drop_index("ix_template_blocks_org_id_created_at")
    op.drop_table("template_blocks")
    with op.batch_alter_table("images") as batch_op:
        batch_op.drop_index("ix_images_org_id_created_at")
    op.drop_table("images")
