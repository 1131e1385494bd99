"""The `redis` KV backend of the distributed roles: one Redis every runner and the CP reach.

Layout: a store is one hash, `edgefn:kv:{PROJECT}:STORE`, and a project's usage one integer,
`edgefn:kv-usage:{PROJECT}`; the braces are a Redis Cluster hash tag, so a project's keys share a
slot and each write is one Lua script that checks the quota and changes entry and usage together.

Consistency: every node talks to the same primary, and each call returns only once Redis has
applied it, so a write is seen by every later read on any node (read-your-writes and monotonic
reads everywhere). With replicas and failover (Sentinel, Cluster), writes Redis acknowledged but
had not replicated may be lost at a failover: Redis's own guarantee, documented in docs/kv.md.

Each call waits for its answer at most its `timeout` (awaited with `can_read(timeout)`); opening a
new connection is bounded by `kv.timeout_s` instead (redis-py's socket timeouts are set per
connection, so connect and greeting may take that long each). A call raises KvUnavailable when
Redis cannot be reached, KvTimeout when it does not answer in time; the connection is then
dropped, never reused with an answer still in flight. redis-py's retries are off: a retry would
overrun the deadline.
"""

from __future__ import annotations

import hashlib
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from edgehost.kv import KvLimits, KvQuotaExceeded, KvTimeout, KvUnavailable, check_entry

# KEYS: the store's hash, the project's usage. ARGV: key, value, quota. Returns the project's
# usage before the write when it would pass the quota, else -1 after writing.
_SET = """
local size = string.len(ARGV[1]) + string.len(ARGV[2])
local old = 0
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  old = string.len(ARGV[1]) + redis.call('HSTRLEN', KEYS[1], ARGV[1])
end
local delta = size - old
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if delta > 0 and used + delta > tonumber(ARGV[3]) then return used end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCRBY', KEYS[2], delta)
return -1
"""
# KEYS: the store's hash, the project's usage. ARGV: key.
_DELETE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('DECRBY', KEYS[2], string.len(ARGV[1]) + redis.call('HSTRLEN', KEYS[1], ARGV[1]))
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""
_SCAN_COUNT = 1000


def _hash(project: str, store: str) -> str:
    return f"edgefn:kv:{{{project}}}:{store}"


def _usage(project: str) -> str:
    return f"edgefn:kv-usage:{{{project}}}"


def _glob_escape(prefix: bytes) -> bytes:
    return b"".join(b"\\" + bytes([c]) if c in b"*?[]\\" else bytes([c]) for c in prefix)


class RedisKvStore:
    def __init__(self, url: str, limits: KvLimits) -> None:
        self.url = url
        self.limits = limits
        self._pool = redis.ConnectionPool.from_url(
            url,
            socket_timeout=limits.timeout_s,
            socket_connect_timeout=limits.timeout_s,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._scripts: dict[str, str] = {}  # script text -> its SHA1 in Redis's script cache

    def _call(self, timeout: float, *args: Any) -> Any:
        """One command on a pooled connection, answered within `timeout` seconds."""
        if timeout <= 0:
            raise KvTimeout("no time was left for the store call")
        try:
            conn = self._pool.get_connection()
        except redis.TimeoutError:
            raise KvTimeout(f"connecting to redis took over {self.limits.timeout_s} s") from None
        except (redis.RedisError, OSError) as exc:
            raise KvUnavailable(f"redis is unavailable: {exc}") from None
        try:
            conn.send_command(*args)
            if not conn.can_read(timeout=timeout):
                raise KvTimeout(f"redis did not answer within {timeout:.3f} s")
            return conn.read_response()
        except redis.ResponseError:
            raise  # an answer (NOSCRIPT, a script's error): the connection is in step
        except KvTimeout:
            conn.disconnect()
            raise
        except redis.TimeoutError:
            conn.disconnect()
            raise KvTimeout(f"redis did not answer within {timeout:.3f} s") from None
        except (redis.RedisError, OSError) as exc:
            conn.disconnect()
            raise KvUnavailable(f"redis is unavailable: {exc}") from None
        finally:
            self._pool.release(conn)

    def _script(self, timeout: float, script: str, keys: tuple[str, ...], *args: Any) -> Any:
        sha = self._scripts.get(script)
        if sha is not None:
            try:
                return self._call(timeout, "EVALSHA", sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                pass  # a restarted or flushed Redis forgot it: sent whole below
            except redis.ResponseError as exc:
                raise KvUnavailable(f"redis refused the script: {exc}") from None
        self._scripts[script] = hashlib.sha1(script.encode()).hexdigest()  # Redis names scripts so
        try:
            return self._call(timeout, "EVAL", script, len(keys), *keys, *args)
        except redis.ResponseError as exc:
            raise KvUnavailable(f"redis refused the script: {exc}") from None

    def get(self, project: str, store: str, key: bytes, timeout: float) -> bytes | None:
        value = self._call(timeout, "HGET", _hash(project, store), key)
        return None if value is None else bytes(value)

    def set(self, project: str, store: str, key: bytes, value: bytes, timeout: float) -> None:
        check_entry(key, value, self.limits)
        used = self._script(
            timeout, _SET, (_hash(project, store), _usage(project)), key, value, self.limits.max_project_bytes
        )
        if int(used) >= 0:
            raise KvQuotaExceeded(
                f"project {project} uses {used} of kv.max_project_bytes ({self.limits.max_project_bytes}); "
                f"this write needs more"
            )

    def delete(self, project: str, store: str, key: bytes, timeout: float) -> None:
        self._script(timeout, _DELETE, (_hash(project, store), _usage(project)), key)

    def keys(self, project: str, store: str, prefix: bytes, limit: int, timeout: float) -> list[bytes]:
        found: set[bytes] = set()
        cursor: Any = 0
        pattern = _glob_escape(prefix) + b"*"
        while True:
            cursor, fields = self._call(
                timeout, "HSCAN", _hash(project, store), cursor, "MATCH", pattern, "COUNT", _SCAN_COUNT
            )
            found.update(bytes(field) for field in fields[::2])
            if int(cursor) == 0:
                return sorted(found)[:limit]

    def usage(self, project: str, timeout: float) -> int:
        return int(self._call(timeout, "GET", _usage(project)) or 0)

    def close(self) -> None:
        self._pool.disconnect()
