"""A Ray cluster of two node processes on 127.0.0.1, for the tests and `lcm-bot bench --ray local`.

A head and a second node, each a real raylet with its own resources (one CPU, and a custom
resource naming it), started and stopped here: the actors land on both, as on two machines.
Every port binds to the loopback address.
"""

from __future__ import annotations

import os
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

LOOPBACK = "127.0.0.1"


class LocalCluster:
    """``with LocalCluster() as address:`` a head and one more node; the driver connects itself."""

    def __init__(self, *, nodes: int = 2, cpus_per_node: int = 1) -> None:
        self.nodes = nodes
        self.cpus_per_node = cpus_per_node
        self._cluster: Cluster | None = None

    def start(self) -> str:
        # The actors import this project (and the tests' builders) by name: they inherit the
        # node processes' environment.
        root = str(Path(__file__).resolve().parents[2])
        paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        node = dict(
            num_cpus=self.cpus_per_node,
            node_ip_address=LOOPBACK,
            object_store_memory=100 * 1024 * 1024,
        )
        self._cluster = Cluster(
            initialize_head=True,
            head_node_args=dict(
                node, resources={"node-0": 1}, include_dashboard=False, dashboard_host=LOOPBACK
            ),
        )
        for index in range(1, self.nodes):
            self._cluster.add_node(**node, resources={f"node-{index}": 1})
        self._cluster.wait_for_nodes()
        return self._cluster.address

    def pids(self) -> set[int]:
        """Every process of the cluster's nodes (GCS, raylets, agents), not the actors."""
        nodes = [self._cluster.head_node, *self._cluster.worker_nodes] if self._cluster else []
        return {
            info.process.pid
            for node in nodes
            for infos in node.all_processes.values()
            for info in infos
            if info.process is not None
        }

    def stop(self) -> None:
        if ray.is_initialized():
            ray.shutdown()
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
