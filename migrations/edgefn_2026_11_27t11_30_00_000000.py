"""One active deployment per function, held by the database too (the deploy path also locks the row)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from edgehost.db.tables import Deployment

ID = "2026-11-27T11:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one active deployment per function"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="edgefn", description=DESCRIPTION)

    async def create_index() -> None:
        # A partial unique index: SQLite and PostgreSQL both have them, with the same syntax.
        await Deployment.raw(
            "CREATE UNIQUE INDEX IF NOT EXISTS edgefn_deployment_one_active"
            ' ON edgefn_deployment ("function") WHERE active'
        )

    async def drop_index() -> None:
        await Deployment.raw("DROP INDEX IF EXISTS edgefn_deployment_one_active")

    manager.add_raw(create_index)
    manager.add_raw_backwards(drop_index)
    return manager
