"""Workers as Ray actors on a real two-node Ray cluster on 127.0.0.1, started and stopped here.

One cluster and one engine (two actors, one per node) serve the whole module: starting actors is
most of the cost. What crosses: batches one way, steps and results back, a kill in between.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import pytest_asyncio

from generation.engine import Engine, EngineConfig
from generation.engine.events import JobFinished, JobStarted
from generation.engine.ray_local import LocalCluster
from generation.engine.transport import worker_factories
from generation.engine.worker_process import WorkerSpec
from generation.errors import GenerationCancelled
from generation.modes.requests import validate_request
from tests.generation.engine_helpers import spec
from tests.generation.worker_helpers import build_injecting

pytestmark = pytest.mark.slow
# The async tests share the module's event loop, where the shared engine lives.
MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster():
    local = LocalCluster(nodes=2, cpus_per_node=1)
    address = local.start()
    yield local, address
    local.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine(cluster, tiny_family):
    _, address = cluster
    factories = worker_factories(
        WorkerSpec("tiny"),
        ["cpu", "cpu"],
        ray_address=address,
        heartbeat_s=60,
        build=build_injecting,
    )
    engine = Engine(factories, family=tiny_family, config=EngineConfig(batch_budget=64 * 64 * 4))
    async with engine:
        yield engine


def _slot_running(engine: Engine, job_id: str):
    for slot in engine.workers:
        batch = slot.running
        if batch is not None and any(job.spec.job_id == job_id for job in batch.jobs):
            return slot
    return None


async def _until(condition, timeout: float = 180.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@MODULE_LOOP
async def test_jobs_run_on_both_nodes(engine, cluster):
    import ray

    nodes = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    assert len(nodes) == 2
    assert {slot.runner.node_id for slot in engine.workers} == nodes, "one actor per node"
    before = [slot.batches for slot in engine.workers]
    # Sizes apart, so that no two share a call: six batches for two workers.
    handles = [
        engine.submit(spec(f"{u}1", f"SLOW {u}", width=64 + 32 * k)) for k, u in enumerate("ABCDEF")
    ]
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 300)
    assert all(result.images for result in results)
    ran = [slot.batches - was for slot, was in zip(engine.workers, before, strict=True)]
    assert sum(ran) == 6 and all(ran), f"batches per node: {ran}"


@MODULE_LOOP
async def test_a_stop_through_ray_ends_its_own_batch_and_the_next_batch_runs_to_its_end(engine):
    """The runner's stop names its batch, and the actor honours it for that batch alone.

    The race of a late stop with the next batch is shown in test_ray_actor, in this process.
    """
    # Straight to one slot's runner while the engine has no work: its thread waits for some.
    await _until(lambda: all(slot.waiting for slot in engine.workers))
    runner = engine.workers[0].runner
    request = validate_request(spec("S1", "SLOW stop me", steps=6).request, engine.family)
    stopped_at: list[int] = []

    def stop_at_once(step: int, total: int) -> bool:
        stopped_at.append(step)
        return False

    with pytest.raises(GenerationCancelled):
        await asyncio.to_thread(runner.run, [request], stop_at_once)
    assert stopped_at == [1]
    steps: list[int] = []
    results = await asyncio.to_thread(runner.run, [request], lambda step, _: steps.append(step))
    assert steps == [1, 2, 3, 4, 5, 6] and results[0].images


def test_every_port_of_the_cluster_is_on_the_loopback(engine, cluster):
    local, _ = cluster
    pids = local.pids() | {slot.runner.pid for slot in engine.workers}
    listening = _listening_addresses(pids)
    assert listening, "the cluster listens somewhere"
    assert all(host in ("127.0.0.1", "::ffff:127.0.0.1") for host, _ in listening), listening


@MODULE_LOOP
async def test_an_actor_killed_mid_batch_loses_nothing_and_the_other_worker_finishes_it(engine):
    restarts = engine.metrics.worker_restarts
    victim = engine.submit(spec("K1", "SLOW kill me", steps=6))
    mate = engine.submit(spec("L1", "SLOW ride along", steps=6))
    await _until(lambda: _slot_running(engine, "K1") is not None)
    killed = _slot_running(engine, "K1")
    other = next(slot for slot in engine.workers if slot is not killed)
    other_before, killed_pid = other.batches, killed.runner.pid
    async for event in victim:
        if isinstance(event, JobStarted):
            break
    os.kill(killed_pid, signal.SIGKILL)
    ends = await asyncio.wait_for(asyncio.gather(victim.wait(), mate.wait()), 300)
    assert all(isinstance(end, JobFinished) for end in ends), ends
    assert engine.metrics.worker_restarts == restarts + 1
    assert other.batches == other_before + 1, "the lost batch ran again on the other worker"
    # Ray restarts the actor, and the slot takes work again once its models are loaded.
    await _until(lambda: killed.runner is not None and killed.runner.pid != killed_pid)
    again = await asyncio.wait_for(engine.submit(spec("M1", "after the restart")).wait(), 300)
    assert isinstance(again, JobFinished) and engine.state == "running"


def test_without_an_address_nothing_of_ray_is_imported(cluster):
    """In a fresh process, as the bot starts: Ray only with LCM_RAY_ADDRESS."""
    _, address = cluster
    probe = textwrap.dedent(
        """
        import sys
        import bot.app, bot.run
        from generation.engine.placement import worker_devices
        from generation.engine.transport import worker_factories
        from generation.engine.worker_process import WorkerSpec
        factories = worker_factories(
            WorkerSpec("tiny"), worker_devices("cpu,cpu"), ray_address=sys.argv[1]
        )
        print(len(factories), "ray" in sys.modules)
        """
    )

    def run(ray_address: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe, ray_address],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout.split("\n")[-2]

    assert run("") == "2 False"
    assert run(address).endswith(" True"), "the probe sees Ray when it is asked for"


def _listening_addresses(pids: set[int]) -> list[tuple[str, int]]:
    """(host, port) of every TCP socket these processes listen on, read from /proc."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                host, port = fields[1].split(":")
                found.append((_host(host), int(port, 16)))
    return found


def _host(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ".".join(str(b) for b in raw[::-1])
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]  # /proc prints 32-bit words
    flat = b"".join(words)
    if flat[:12] == b"\0" * 10 + b"\xff\xff":
        return "::ffff:" + ".".join(str(b) for b in flat[12:])
    return ":".join(flat[i : i + 2].hex() for i in range(0, 16, 2))
