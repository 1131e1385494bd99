"""The real services that integration tests rely on start, answer, and enforce what we depend on."""

from __future__ import annotations

import io
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import redis
from minio import Minio

from tests.services import LOOPBACK, PostgresServer, RedisServer, S3Server, free_port, wait_for_port

pytestmark = pytest.mark.services


async def test_postgres_gives_each_caller_its_own_database(postgres: PostgresServer) -> None:
    first, second = postgres.new_database(), postgres.new_database()
    assert first != second
    conn = await asyncpg.connect(first)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SELECT current_user") == "edgefn"
        await conn.execute("CREATE TABLE t (id int)")  # the role owns its database
    finally:
        await conn.close()
    conn = await asyncpg.connect(postgres.url)
    await conn.close()


async def test_postgres_requires_the_password(postgres: PostgresServer) -> None:
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(postgres.url.replace(postgres.password, "wrong"))


def test_redis_can_go_away_and_come_back(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_connect_timeout=1)
    assert client.ping()
    redis_server.stop()
    try:
        with pytest.raises(redis.ConnectionError):
            client.ping()
    finally:
        redis_server.start()
    assert client.ping()
    client.close()


def test_wait_for_port_times_out_on_a_closed_port() -> None:
    with pytest.raises(TimeoutError):
        wait_for_port(LOOPBACK, free_port(), timeout=0.2)


def _tamper(url: str, param: str, value: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query[param] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_s3_objects_and_presigned_urls(s3_server: S3Server) -> None:
    client = Minio(
        s3_server.endpoint,
        s3_server.access_key,
        s3_server.secret_key,
        secure=s3_server.secure,
        region=s3_server.region,
    )
    client.make_bucket("services-check")
    client.put_object("services-check", "direct", io.BytesIO(b"direct"), 6)
    assert client.get_object("services-check", "direct").read() == b"direct"

    put_url = client.presigned_put_object("services-check", "presigned", expires=timedelta(minutes=5))
    assert httpx.put(put_url, content=b"\0asm").status_code == 200
    get_url = client.presigned_get_object("services-check", "presigned", expires=timedelta(minutes=5))
    response = httpx.get(get_url)
    assert (response.status_code, response.content) == (200, b"\0asm")

    signature = dict(parse_qsl(urlsplit(get_url).query))["X-Amz-Signature"]
    forged = ("0" if signature[0] != "0" else "1") + signature[1:]
    assert httpx.get(_tamper(get_url, "X-Amz-Signature", forged)).status_code == 403
    assert httpx.get(_tamper(get_url, "X-Amz-Expires", "604800")).status_code == 403
    assert httpx.put(_tamper(put_url, "X-Amz-Expires", "604800"), content=b"evil").status_code == 403
    assert httpx.get(get_url.replace("/presigned?", "/direct?")).status_code == 403
