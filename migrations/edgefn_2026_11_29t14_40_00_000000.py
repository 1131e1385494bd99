"""The online-node feed: the addresses a node reports, and an operator's drain."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-29T14:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "node public and metrics URLs, draining"


def _params(default: Any, **extra: Any) -> dict[str, Any]:
    """Piccolo's column parameters as its auto-migrator writes them, so it finds nothing left to do."""
    return {
        **extra,
        "default": default,
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="edgefn", description=DESCRIPTION)
    for name in ("public_url", "metrics_url"):
        manager.add_column(
            table_class_name="Node",
            tablename="edgefn_node",
            column_name=name,
            db_column_name=name,
            column_class_name="Varchar",
            column_class=Varchar,
            params=_params("", length=2048),
            schema=None,
        )
    manager.add_column(
        table_class_name="Node",
        tablename="edgefn_node",
        column_name="draining",
        db_column_name="draining",
        column_class_name="Boolean",
        column_class=Boolean,
        params=_params(False),
        schema=None,
    )
    return manager
