"""Engine metrics: a snapshot object the bot can show, and the same figures as Prometheus text."""

from __future__ import annotations

import statistics
import time
from collections import Counter, deque
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import Counter as PromCounter

OUTCOMES = ("finished", "failed", "cancelled")
STATUSES = ("submitted", *OUTCOMES)
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class MetricsSnapshot:
    """The engine at one moment. Percentiles cover the most recent jobs (a sliding window)."""

    queue_depth: int
    running_jobs: int
    jobs: dict[str, int]
    wait_p50_s: float | None
    wait_p95_s: float | None
    run_p50_s: float | None
    run_p95_s: float | None
    images_per_s: float
    batch_sizes: dict[int, int]
    gpu_memory_bytes: int | None
    gpu_memory_peak_bytes: int | None
    redecodes: int
    superseded: int = 0  # waiting jobs replaced by a newer one of their coalesce key


def percentile(samples, fraction: float) -> float | None:
    """Nearest-rank style percentile via statistics.quantiles; None without samples."""
    data = sorted(samples)
    if not data:
        return None
    if len(data) == 1:
        return data[0]
    cuts = statistics.quantiles(data, n=100, method="inclusive")
    return cuts[round(fraction * 100) - 1]


class EngineMetrics:
    """Counts and timings, updated on the event loop only (so no lock is needed)."""

    def __init__(
        self, *, window: int = 1000, rate_window_s: float = 60.0, clock=time.monotonic
    ) -> None:
        self._clock = clock
        self._rate_window_s = rate_window_s
        self._started_at = clock()
        self.jobs: Counter[str] = Counter({status: 0 for status in STATUSES})
        self.batch_sizes: Counter[int] = Counter()
        self.redecodes = 0
        self.worker_restarts = 0  # worker processes replaced after a loss (death, hang, fault)
        self.superseded_jobs = 0  # replaced while waiting by a newer job of their coalesce key
        self._waits: deque[float] = deque(maxlen=window)
        self._runs: deque[float] = deque(maxlen=window)
        self._images: deque[tuple[float, int]] = deque()
        self._registry = CollectorRegistry()
        # Submissions and outcomes are separate counters: summing one counter over all its labels
        # must mean something (Prometheus naming practice), and submitted + finished does not.
        self._prom_submitted = PromCounter(
            "lcm_jobs_submitted", "Jobs the engine accepted", registry=self._registry
        )
        self._prom_completed = PromCounter(
            "lcm_jobs_completed",
            "Jobs that ended, by final status (finished, failed, cancelled)",
            ["status"],
            registry=self._registry,
        )
        for status in OUTCOMES:
            self._prom_completed.labels(status)  # a series at 0 from the start, so rate() sees 0->1
        self._prom_wait = Histogram(
            "lcm_job_wait_seconds",
            "Time from submit to start",
            buckets=_LATENCY_BUCKETS,
            registry=self._registry,
        )
        self._prom_run = Histogram(
            "lcm_job_run_seconds",
            "Time from start to end",
            buckets=_LATENCY_BUCKETS,
            registry=self._registry,
        )
        self._prom_batch = Histogram(
            "lcm_batch_size", "Jobs per GPU call", buckets=_BATCH_BUCKETS, registry=self._registry
        )
        self._prom_images = PromCounter(
            "lcm_images", "Images (or animations) delivered", registry=self._registry
        )
        self._prom_superseded = PromCounter(
            "lcm_jobs_superseded",
            "Waiting jobs replaced by a newer job of the same nudge session (latest wins)",
            registry=self._registry,
        )
        self._prom_restarts = PromCounter(
            "lcm_worker_restarts", "GPU worker processes replaced", registry=self._registry
        )
        self._prom_queue = Gauge("lcm_queue_depth", "Jobs waiting", registry=self._registry)
        self._prom_running = Gauge("lcm_jobs_running", "Jobs on the GPU", registry=self._registry)
        self._prom_memory = Gauge(
            "lcm_gpu_memory_bytes",
            "GPU memory held by the engine",
            ["kind"],
            registry=self._registry,
        )

    # ------------------------------------------------------------------ recording

    def worker_restarted(self) -> None:
        self.worker_restarts += 1
        self._prom_restarts.inc()

    def superseded(self) -> None:
        self.superseded_jobs += 1
        self._prom_superseded.inc()

    def submitted(self) -> None:
        self.jobs["submitted"] += 1
        self._prom_submitted.inc()

    def batch_started(self, size: int) -> None:
        self.batch_sizes[size] += 1
        self._prom_batch.observe(size)

    def started(self, waited_s: float) -> None:
        self._waits.append(waited_s)
        self._prom_wait.observe(waited_s)

    def ended(self, status: str, *, ran_s: float | None, images: int = 0, redecoded=False) -> None:
        self.jobs[status] += 1
        self._prom_completed.labels(status).inc()
        if ran_s is not None:
            self._runs.append(ran_s)
            self._prom_run.observe(ran_s)
        if images:
            self._images.append((self._clock(), images))
            self._prom_images.inc(images)
        self.redecodes += int(redecoded)

    # ------------------------------------------------------------------ reading

    def images_per_s(self) -> float:
        """For people (/healthz, /status); Prometheus derives it: rate(lcm_images_total[5m])."""
        now = self._clock()
        while self._images and self._images[0][0] < now - self._rate_window_s:
            self._images.popleft()
        span = min(self._rate_window_s, now - self._started_at)
        return sum(n for _, n in self._images) / span if span > 0 else 0.0

    def snapshot(
        self, *, queue_depth: int, running_jobs: int, memory: tuple[int, int] | None
    ) -> MetricsSnapshot:
        return MetricsSnapshot(
            queue_depth=queue_depth,
            running_jobs=running_jobs,
            jobs=dict(self.jobs),
            wait_p50_s=percentile(self._waits, 0.50),
            wait_p95_s=percentile(self._waits, 0.95),
            run_p50_s=percentile(self._runs, 0.50),
            run_p95_s=percentile(self._runs, 0.95),
            images_per_s=self.images_per_s(),
            batch_sizes=dict(sorted(self.batch_sizes.items())),
            gpu_memory_bytes=memory[0] if memory else None,
            gpu_memory_peak_bytes=memory[1] if memory else None,
            redecodes=self.redecodes,
            superseded=self.superseded_jobs,
        )

    def prometheus_text(self, snapshot: MetricsSnapshot) -> bytes:
        """Prometheus exposition text; gauges are set from ``snapshot`` first."""
        self._prom_queue.set(snapshot.queue_depth)
        self._prom_running.set(snapshot.running_jobs)
        if snapshot.gpu_memory_bytes is not None:
            self._prom_memory.labels("allocated").set(snapshot.gpu_memory_bytes)
            self._prom_memory.labels("peak").set(snapshot.gpu_memory_peak_bytes or 0)
        return generate_latest(self._registry)
