"""Function versions carry their environment (`env`) and the KV stores they may use (`kv`)."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-29T17:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "function version env and kv"


def _params(default: Any) -> dict[str, Any]:
    """Piccolo's column parameters as its auto-migrator writes them, so it finds nothing left to do."""
    return {
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
    for name, default in (("env", "{}"), ("kv", "[]")):
        manager.add_column(
            table_class_name="FunctionVersion",
            tablename="edgefn_function_version",
            column_name=name,
            db_column_name=name,
            column_class_name="JSON",
            column_class=JSON,
            params=_params(default),
            schema=None,
        )
    return manager
