"""Server settings: dynaconf reads `config/*.toml` and `EDGEFN_*` overrides, msgspec types them.

The core's keys and defaults (listed in docs/settings.md) live here once; a plugin owns its own
tables (`edgehost_settings_sections`, typed by `typed_sections` once the plugins are loaded). A bad
value stops start-up with one line naming the key (`SettingsError`), which the CLI turns into exit
status 2.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

import msgspec
from dynaconf import Dynaconf

from edgehost.addresses import AddressError, check_url
from edgehost.kv.config import Kv
from edgehost.secrets_crypto import SecretKeyError, parse_key
from edgehost.settings_types import (
    MODES,
    Connections,
    Deadline,
    Mode,
    NonNegativeInt,
    Port,
    PositiveFloat,
    PositiveInt,
    S,
    SettingsSection,
)

# The default settings ship inside the package (the repo's top-level `config/`, linked as
# `edgehost/config`), so an installed edgefn reads the same defaults as a checkout.
CONFIG_DIR = Path(__file__).resolve().parent / "config"
# `EDGEFN_*` variables that belong to the CLI (`--token`, `--api`, debugging), not to the settings:
# without this, `EDGEFN_TOKEN=... edgefn serve` would fail on "token is not a known setting" and
# `EDGEFN_API=http://...` would replace the `api` table with a string.
CLI_ENV = ("TOKEN", "API", "DEBUG", "LOG_LEVEL")
DATABASE_SCHEMES = ("sqlite:///", "postgresql://", "postgres://")


class Quotas(SettingsSection, frozen=True):
    max_concurrent: PositiveInt = 100
    per_minute: PositiveInt = 10000
    cpu_seconds_per_day: PositiveFloat = 3600.0
    storage: str = "memory://"


class Runner(SettingsSection, frozen=True):
    max_body_bytes: PositiveInt = 1048576
    # What one invocation may hand the host (edgehost/runtime/hostcalls.py, OutputLimits): each
    # http_fetch response, fields included; guest output kept (stdout, stderr, edgefn.log); the
    # header fields of the guest's response (more is bad_response).
    max_fetch_bytes: PositiveInt = 1048576
    max_guest_output_bytes: PositiveInt = 65536
    max_response_header_bytes: PositiveInt = 65536
    # Per ingress process (docs/runner.md, "Connections and deadlines"): open connections,
    # idle keep-alive ones included (~10 KiB each in granian)...
    max_connections: Connections = 10000
    # ...and requests between their body's arrival and their answer; one more answers 503 at once
    # (one still sending its body is not counted: stalled uploads cannot take every slot).
    max_requests_in_flight: PositiveInt = 512
    # A connection's next request head must be complete this long after it opened or after its
    # previous answer: the slow-header deadline and the idle keep-alive timeout in one (hyper's).
    header_timeout_s: Deadline = 30.0
    # Bytes of request bodies still arriving, per ingress process: a chunk past it answers 503.
    max_buffered_body_bytes: PositiveInt = 536870912
    # The whole body must have arrived this long after its head; otherwise 408.
    body_timeout_s: Deadline = 30.0
    # A connection whose client takes none of the answer's bytes for this long is dropped.
    send_timeout_s: Deadline = 30.0
    node_id: str = ""
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    control_plane_url: str = ""
    host: str = "0.0.0.0"
    ingress_port: Port = 8080
    metrics_port: Port = 9090
    workers: NonNegativeInt = 0
    # Deployments compiled and warmed at once (0: one per CPU), each project one at a time
    # (edgehost/runner/node.py): a tenant's many or slow compiles never queue in front of another's.
    max_concurrent_bring_ups: NonNegativeInt = 0
    cache_dir: str = "/var/cache/wasm"
    state_dir: str = "/var/lib/edgefn"
    # What the runner reports to the CP for its node feed; empty means http://{host}:{ingress_port}
    # and http://{host}:{metrics_port}, a wildcard host replaced (edgehost/addresses.py).
    public_url: str = ""
    metrics_url: str = ""

    def bring_up_slots(self) -> int:
        """Deployments compiled and warmed at once; 0 means one per CPU (compiling is CPU-bound)."""
        return self.max_concurrent_bring_ups or os.cpu_count() or 1


class Heartbeat(SettingsSection, frozen=True):
    interval_s: PositiveFloat = 30.0
    offline_after_s: PositiveFloat = 120.0
    # Runner: also long-poll the CP's watch for instant changes; false learns them by heartbeat only.
    watch: bool = True


class Database(SettingsSection, frozen=True):
    url: str = ""


class S3(SettingsSection, frozen=True):
    endpoint: str = ""
    access_key: str = ""
    secret_key: str = ""
    bucket: str = "edgefn-artifacts"
    secure: bool = True
    region: str = "us-east-1"


class Artifacts(SettingsSection, frozen=True):
    backend: Annotated[Literal["local", "s3"], msgspec.Meta(description="'local' or 's3'")] = "local"
    dir: str = ""
    url_ttl_s: PositiveInt = 900
    # Base URL of the CP's API as runners and developers reach it, for `local` artifact URLs;
    # empty means http://{api.host}:{api.port}.
    public_url: str = ""
    s3: S3 = msgspec.field(default_factory=S3)


class Api(SettingsSection, frozen=True):
    host: str = "127.0.0.1"
    port: Port = 8787
    node_port: Port = 8788
    max_upload_bytes: PositiveInt = 64 * 1024 * 1024
    # Routes one project may have: each route is checked against every other project's on change.
    max_routes_per_project: PositiveInt = 1000
    # Registration checks run at once (each compiles its module or component on one core);
    # each project has at most one in flight (project_queue.py).
    max_concurrent_checks: PositiveInt = 1


class Tls(SettingsSection, frozen=True):
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""


class Nodes(SettingsSection, frozen=True):
    allow: list[str] = msgspec.field(default_factory=list)


class Auth(SettingsSection, frozen=True):
    signing_key_file: str = ""
    jwks_url: str = ""
    issuer: str = "edgefn"
    audience: str = "edgefn"
    # Subjects that may read the node feed and drain nodes (the operator role), besides developers.
    operators: list[str] = msgspec.field(default_factory=list)


class Secrets(SettingsSection, frozen=True):
    """The control plane's key for secret values at rest (docs/secrets.md): base64 of 32 bytes."""

    key: str = ""  # wins over key_file; for replicas, set the same key on each (EDGEFN_SECRETS__KEY)
    key_file: str = ""  # empty means {state_dir}/secrets.key, created (0600) when missing


class Settings(SettingsSection, frozen=True):
    mode: Mode = "dev"
    state_dir: str = ""
    plugins: list[str] = msgspec.field(default_factory=list)
    disabled_plugins: list[str] = msgspec.field(default_factory=list)
    quotas: Quotas = msgspec.field(default_factory=Quotas)
    runner: Runner = msgspec.field(default_factory=Runner)
    heartbeat: Heartbeat = msgspec.field(default_factory=Heartbeat)
    database: Database = msgspec.field(default_factory=Database)
    artifacts: Artifacts = msgspec.field(default_factory=Artifacts)
    api: Api = msgspec.field(default_factory=Api)
    tls: Tls = msgspec.field(default_factory=Tls)
    nodes: Nodes = msgspec.field(default_factory=Nodes)
    auth: Auth = msgspec.field(default_factory=Auth)
    kv: Kv = msgspec.field(default_factory=Kv)
    secrets: Secrets = msgspec.field(default_factory=Secrets)
    # The plugins' own tables by name: as read (tables) until `typed_sections` types them against
    # the plugins loaded, then each an instance of the `SettingsSection` its plugin declared.
    sections: dict[str, Any] = msgspec.field(default_factory=dict)

    def section(self, kind: type[S]) -> S:
        """The plugin table typed `kind` (defaults filled in); LookupError when no loaded plugin
        declared `kind`, or the settings were never typed (`typed_sections`)."""
        for value in self.sections.values():
            if type(value) is kind:
                return value
        raise LookupError(f"no loaded plugin declares the settings table {kind.__name__}")

    @property
    def effective_state_dir(self) -> Path:
        return Path(self.state_dir or self.runner.state_dir)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.effective_state_dir / 'edgefn.db'}"

    @property
    def artifacts_dir(self) -> Path:
        return Path(self.artifacts.dir) if self.artifacts.dir else self.effective_state_dir / "artifacts"

    @property
    def tls_enabled(self) -> bool:
        return bool(self.tls.ca_file and self.tls.cert_file and self.tls.key_file)


class SettingsError(Exception):
    """A setting that cannot be used; the message names the key."""


_PATH = re.compile(r"- at `\$\.?([^`]*)`")


def _lower_keys(data: Any, path: tuple[str, ...] = ()) -> Any:
    """dynaconf upper-cases env keys; labels are user data and keep their case."""
    if not isinstance(data, dict) or path == ("runner", "labels"):
        return data
    return {str(k).lower(): _lower_keys(v, (*path, str(k).lower())) for k, v in data.items()}


def _describe(root: type, path: list[str]) -> str:
    """Finds what the key at `path` below `root` should be, from its annotation, for the error line."""
    cls: Any = root
    hint: Any = None
    for part in path:
        hints = get_type_hints(cls, include_extras=True)
        if part not in hints:
            return "valid"
        hint = hints[part]
        cls = hint
    if get_origin(hint) is Annotated:
        base, *metas = get_args(hint)
        for meta in metas:
            if isinstance(meta, msgspec.Meta) and meta.description:
                return meta.description
        hint = base
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if hint in names:
        return names[hint]
    return {list: "a list", dict: "a table"}.get(get_origin(hint), "valid")


def _lookup(data: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _explain(err: msgspec.ValidationError, data: Any, root: type = Settings, table: str = "") -> str:
    """The one error line for a value of `data` (the table `table`, typed `root`) msgspec refused."""
    text = str(err)
    match = _PATH.search(text)
    path = [p for p in (match.group(1) if match else "").split(".") if p]
    prefix = [table] if table else []
    unknown = re.match(r"Object contains unknown field `([^`]+)`", text)
    if unknown:
        key = ".".join([*prefix, *path, unknown.group(1)])
        return f"{key} is not a known setting"
    key = ".".join([*prefix, *path]) or "settings"
    return f"{key} must be {_describe(root, path)}, got {_lookup(data, path)!r}"


def _drop_cli_env(data: dict[str, Any]) -> dict[str, Any]:
    """dynaconf's filter: the CLI's own `EDGEFN_*` variables never reach the settings (tables stay)."""
    present = {name for name in CLI_ENV if f"EDGEFN_{name}" in os.environ}
    return {k: v for k, v in data.items() if not (k.upper() in present and not isinstance(v, dict))}


def _check(settings: Settings) -> None:
    """Rules that span more than a type: a URL scheme the engines understand, advertised URLs."""
    runner = settings.runner
    if runner.max_buffered_body_bytes < runner.max_body_bytes:
        raise SettingsError(
            "runner.max_buffered_body_bytes must be at least runner.max_body_bytes "
            f"({runner.max_body_bytes}), got {runner.max_buffered_body_bytes}"
        )
    _check_secret_key(settings.secrets)
    url = settings.database.url
    if url and not url.startswith(DATABASE_SCHEMES):
        raise SettingsError(f"database.url must be a sqlite:/// or postgresql:// URL, got {url!r}")
    for key in ("public_url", "metrics_url"):
        value = getattr(settings.runner, key)
        try:
            if value:
                check_url(value)
        except AddressError as exc:
            raise SettingsError(
                f"runner.{key} must be an http(s):// URL with a host, got {value!r}: {exc}"
            ) from None


def _check_secret_key(secrets: Secrets) -> None:
    """`secrets.key`, or the key file when it exists already (it is created at start otherwise)."""
    try:
        if secrets.key:
            parse_key(secrets.key)
        elif secrets.key_file and Path(secrets.key_file).exists():
            parse_key(Path(secrets.key_file).read_text())
    except (SecretKeyError, OSError, UnicodeDecodeError) as exc:
        key = "secrets.key" if secrets.key else "secrets.key_file"
        raise SettingsError(f"{key} {exc}") from None


def load_settings(
    mode: str | None = None,
    *,
    config_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Layers `config/default.toml`, the mode's file, an explicit file, env vars, then overrides."""
    files = [CONFIG_DIR / "default.toml"]
    if mode is not None:
        if mode not in MODES:
            raise SettingsError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        files.append(CONFIG_DIR / f"{mode}.toml")
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise SettingsError(f"config file {path} does not exist")
        files.append(path)
    for file in files:
        if file.is_file():
            try:
                tomllib.loads(file.read_text())
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
                raise SettingsError(f"cannot read settings from {file}: {exc}") from None
    try:
        raw = Dynaconf(
            envvar_prefix="EDGEFN",
            settings_files=[str(f) for f in files if f.is_file()],
            environments=False,
            merge_enabled=True,
            filter_strategy=_drop_cli_env,
        ).as_dict()
    except Exception as exc:  # dynaconf raises parser-specific errors for broken TOML
        raise SettingsError(f"cannot read settings: {exc}") from exc
    raw.pop("FILTER_STRATEGY", None)  # dynaconf keeps this option of its own among the values
    data = _lower_keys(raw)
    if mode is not None:
        data["mode"] = mode
    for dotted, value in (overrides or {}).items():
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    data["sections"] = _plugin_tables(data)
    try:
        settings = msgspec.convert(data, Settings, strict=False)
    except msgspec.ValidationError as err:
        raise SettingsError(_explain(err, data)) from None
    _check(settings)
    return settings


CORE_KEYS = frozenset(Settings.__struct_fields__) - {"sections"}


def _plugin_tables(data: dict[str, Any]) -> dict[str, Any]:
    """Takes the tables that are not the core's out of `data`: they belong to plugins, which are
    known only once loaded (`typed_sections`). A key that is not a table stays, to be refused."""
    return {key: data.pop(key) for key in list(data) if key not in CORE_KEYS and isinstance(data[key], dict)}


def typed_sections(
    settings: Settings, declared: Mapping[str, type[SettingsSection]], disabled: Mapping[str, str] = {}
) -> Settings:
    """`settings` with every plugin table typed as its plugin declared it, defaults for those not
    written. `declared` maps a table to its type; `disabled` a table to the disabled plugin that
    would own it. A table nobody declares, an unknown key or a bad value raises `SettingsError`."""
    for table in settings.sections:
        if table in declared:
            continue
        if table in disabled:
            raise SettingsError(
                f"{table} is a setting of the plugin {disabled[table]!r}, which disabled_plugins disables"
            )
        raise SettingsError(f"{table} is not a known setting")
    typed: dict[str, SettingsSection] = {}
    for table, kind in declared.items():
        raw = settings.sections.get(table, {})
        try:
            typed[table] = raw if isinstance(raw, kind) else msgspec.convert(raw, kind, strict=False)
        except msgspec.ValidationError as err:
            raise SettingsError(_explain(err, raw, kind, table)) from None
    return msgspec.structs.replace(settings, sections=typed)


def worker_count(settings: Settings) -> int:
    """Ingress processes: `runner.workers` (0: one per CPU) for a runner; one in the other modes."""
    if settings.mode != "runner":
        return 1
    return settings.runner.workers or os.cpu_count() or 1
