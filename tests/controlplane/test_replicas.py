"""Two CP processes on one PostgreSQL database serve one node: wake-ups cross replicas by LISTEN/NOTIFY."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tests.controlplane.harness import ControlPlane, control_plane, deployed


def test_a_node_watching_replica_b_gets_a_deploy_made_through_replica_a(
    cp: ControlPlane, tmp_path: Path
) -> None:
    with control_plane(cp.config, tmp_path, "cp-b") as replica_b:
        dev = cp.developer("replica-owner")
        version = dev.publish("replica", "fn")
        node = replica_b.node_client("node-2cp", labels={"suite": "replica"})
        revision = node.heartbeat().desired.revision
        answer: dict[str, Any] = {}

        def watch() -> None:
            answer["desired"] = node.desired_after(revision, timeout=30)

        waiting = threading.Thread(target=watch)
        waiting.start()
        time.sleep(0.3)  # let the watch park on replica B; correctness does not depend on it
        assert dev.deploy("replica", "fn", "suite == 'replica'").status_code == 201  # through replica A
        waiting.join(25)
        assert not waiting.is_alive(), "replica B's watch was not woken by replica A's deploy"
        assert deployed(answer["desired"])["replica.fn"] == version
        assert deployed(node.heartbeat())["replica.fn"] == version

        # And the other way round: changes through B are what A reports, and rollback spans both.
        dev_b = replica_b.developer("replica-owner")
        v2 = dev_b.publish("replica", "fn")
        assert dev_b.deploy("replica", "fn", "suite == 'replica'", v2).status_code == 201
        assert deployed(node.heartbeat())["replica.fn"] == v2
        assert dev.rollback("replica", "fn", version).status_code == 200
        [active] = dev_b.http.get("/v1/projects/replica/deployments").json()["deployments"]
        assert active["version"] == version
        node.close()
