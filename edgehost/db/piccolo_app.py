"""Piccolo's app record for edgefn: its tables and the repo's `migrations/` folder."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from edgehost import migrations
from edgehost.db.tables import TABLES

APP_CONFIG = AppConfig(
    app_name="edgefn",
    migrations_folder_path=str(Path(migrations.__file__).parent),
    table_classes=list(TABLES),
)
