"""Initial schema: series, versions, values, configs, models and model versions.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_config")),
        sa.UniqueConstraint("name", name=op.f("uq_data_config_name")),
    )
    op.create_table(
        "ml_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_config")),
        sa.UniqueConstraint("name", name=op.f("uq_ml_config_name")),
    )
    op.create_table(
        "preprocessing_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preprocessing_config")),
        sa.UniqueConstraint("name", name=op.f("uq_preprocessing_config_name")),
    )
    op.create_table(
        "timeseries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeseries")),
        sa.UniqueConstraint("name", name=op.f("uq_timeseries_name")),
    )
    op.create_table(
        "data_config_series",
        sa.Column("data_config_id", sa.Integer(), nullable=False),
        sa.Column("timeseries_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.CheckConstraint("role IN ('target', 'feature')", name=op.f("ck_data_config_series_role")),
        sa.ForeignKeyConstraint(
            ["data_config_id"],
            ["data_config.id"],
            name=op.f("fk_data_config_series_data_config_id_data_config"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["timeseries_id"],
            ["timeseries.id"],
            name=op.f("fk_data_config_series_timeseries_id_timeseries"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("data_config_id", "timeseries_id", name=op.f("pk_data_config_series")),
    )
    with op.batch_alter_table("data_config_series", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_data_config_series_timeseries_id"), ["timeseries_id"], unique=False
        )

    op.create_table(
        "ml_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ml_config_id", sa.Integer(), nullable=False),
        sa.Column("data_config_id", sa.Integer(), nullable=False),
        sa.Column("preprocessing_config_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["data_config_id"],
            ["data_config.id"],
            name=op.f("fk_ml_model_data_config_id_data_config"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["ml_config_id"],
            ["ml_config.id"],
            name=op.f("fk_ml_model_ml_config_id_ml_config"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["preprocessing_config_id"],
            ["preprocessing_config.id"],
            name=op.f("fk_ml_model_preprocessing_config_id_preprocessing_config"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_model")),
        sa.UniqueConstraint("name", name=op.f("uq_ml_model_name")),
    )
    with op.batch_alter_table("ml_model", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ml_model_data_config_id"), ["data_config_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ml_model_ml_config_id"), ["ml_config_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ml_model_preprocessing_config_id"), ["preprocessing_config_id"], unique=False
        )

    op.create_table(
        "ts_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("timeseries_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expired", sa.Boolean(), nullable=False),
        sa.Column("n_values", sa.Integer(), nullable=False),
        sa.Column("first_time", sa.DateTime(), nullable=False),
        sa.Column("last_time", sa.DateTime(), nullable=False),
        sa.Column("digest", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["timeseries_id"],
            ["timeseries.id"],
            name=op.f("fk_ts_version_timeseries_id_timeseries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ts_version")),
    )
    with op.batch_alter_table("ts_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ts_version_timeseries_id"), ["timeseries_id"], unique=False)
        batch_op.create_index(
            "uq_ts_version_current",
            ["timeseries_id"],
            unique=True,
            postgresql_where=sa.text("NOT expired"),
            sqlite_where=sa.text("expired = 0"),
        )

    op.create_table(
        "ml_model_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("artifact", sa.Text(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "status IN ('training', 'ready', 'failed', 'rejected')", name=op.f("ck_ml_model_version_status")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["ml_model.id"],
            name=op.f("fk_ml_model_version_model_id_ml_model"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_model_version")),
    )
    with op.batch_alter_table("ml_model_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ml_model_version_served", ["model_id", "status", "created_at"], unique=False
        )

    op.create_table(
        "ts_value",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["ts_version.id"],
            name=op.f("fk_ts_value_version_id_ts_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "time", name=op.f("pk_ts_value")),
    )


def downgrade() -> None:
    op.drop_table("ts_value")
    with op.batch_alter_table("ml_model_version", schema=None) as batch_op:
        batch_op.drop_index("ix_ml_model_version_served")

    op.drop_table("ml_model_version")
    with op.batch_alter_table("ts_version", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_ts_version_current",
            postgresql_where=sa.text("NOT expired"),
            sqlite_where=sa.text("expired = 0"),
        )
        batch_op.drop_index(batch_op.f("ix_ts_version_timeseries_id"))

    op.drop_table("ts_version")
    with op.batch_alter_table("ml_model", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ml_model_preprocessing_config_id"))
        batch_op.drop_index(batch_op.f("ix_ml_model_ml_config_id"))
        batch_op.drop_index(batch_op.f("ix_ml_model_data_config_id"))

    op.drop_table("ml_model")
    with op.batch_alter_table("data_config_series", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_config_series_timeseries_id"))

    op.drop_table("data_config_series")
    op.drop_table("timeseries")
    op.drop_table("preprocessing_config")
    op.drop_table("ml_config")
    op.drop_table("data_config")
