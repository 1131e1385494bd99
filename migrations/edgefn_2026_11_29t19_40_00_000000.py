"""Function versions say whether each instance serves one request only (`fresh_instance`); versions
registered before it serve as they did (false)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-29T19:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "function version fresh_instance"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="edgefn", description=DESCRIPTION)
    manager.add_column(
        table_class_name="FunctionVersion",
        tablename="edgefn_function_version",
        column_name="fresh_instance",
        db_column_name="fresh_instance",
        column_class_name="Boolean",
        column_class=Boolean,
        params={
            "default": False,
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
