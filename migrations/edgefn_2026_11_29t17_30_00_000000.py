"""Secrets: sealed values per project and function, the copy each deployment took, and the names a
function version carries."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import JSON, ForeignKey, Serial, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-11-29T17:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "secrets"


def _id() -> Serial:
    return Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


class Project(Table, tablename="edgefn_project", schema=None):
    id = _id()


class Deployment(Table, tablename="edgefn_deployment", schema=None):
    id = _id()


def _params(default: Any, *, index: bool = False, **extra: Any) -> dict[str, Any]:
    """Piccolo's column parameters as its auto-migrator writes them, so it finds nothing left to do."""
    return {
        **extra,
        "default": default,
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": index,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }


def _foreign_key(references: type[Table]) -> dict[str, Any]:
    params = _params(None, index=True, references=references, target_column=None)
    del params["default"]
    return {**params, "on_delete": OnDelete.cascade, "on_update": OnUpdate.cascade, "null": True}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="edgefn", description=DESCRIPTION)
    manager.add_column(
        table_class_name="FunctionVersion",
        tablename="edgefn_function_version",
        column_name="secrets",
        db_column_name="secrets",
        column_class_name="JSON",
        column_class=JSON,
        params=_params("[]"),
        schema=None,
    )
    manager.add_table(class_name="Secret", tablename="edgefn_secret", schema=None, columns=None)
    manager.add_table(
        class_name="DeploymentSecret", tablename="edgefn_deployment_secret", schema=None, columns=None
    )
    columns: list[tuple[str, str, str, type, dict[str, Any]]] = [
        ("Secret", "edgefn_secret", "project", ForeignKey, _foreign_key(Project)),
        ("Secret", "edgefn_secret", "function", Varchar, _params("", length=63)),
        ("Secret", "edgefn_secret", "name", Varchar, _params("", length=255)),
        ("Secret", "edgefn_secret", "sealed", Text, _params("")),
        ("Secret", "edgefn_secret", "set_at", Timestamptz, _params(TimestamptzNow())),
        ("DeploymentSecret", "edgefn_deployment_secret", "deployment", ForeignKey, _foreign_key(Deployment)),
        ("DeploymentSecret", "edgefn_deployment_secret", "name", Varchar, _params("", length=255)),
        ("DeploymentSecret", "edgefn_deployment_secret", "sealed", Text, _params("")),
    ]
    for table, tablename, name, column_class, params in columns:
        manager.add_column(
            table_class_name=table,
            tablename=tablename,
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
