"""Piccolo's configuration module; `edgehost.db.engine.bind` sets `DB` from `database.url` at start-up."""

from piccolo.conf.apps import AppRegistry
from piccolo.engine import Engine

DB: Engine | None = None
APP_REGISTRY = AppRegistry(apps=["edgehost.db.piccolo_app"])
