"""Deployments carry a rollout's shares (`shares`: [[version, percent], ...], empty for none)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-29T17:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "deployment rollout shares"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="edgefn", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Deployment",
        tablename="edgefn_deployment",
        column_name="shares",
        db_column_name="shares",
        column_class_name="JSON",
        column_class=JSON,
        params={
            "default": "[]",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
