from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runner.integration.cluster import Cluster, clusters
from tests.services import S3Server


@pytest.fixture
def s3_cluster(tmp_path: Path, s3_server: S3Server) -> Iterator[Cluster]:
    """A cluster whose CP keeps artifacts in SeaweedFS S3 (runners fetch presigned URLs)."""
    yield from clusters(tmp_path, s3_server)


@pytest.fixture
def local_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A cluster whose CP keeps artifacts in a local folder it serves on its mTLS node listener."""
    yield from clusters(tmp_path)
