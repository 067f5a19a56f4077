"""Every GPU measurement of the fast-path issue in one run of under 8 minutes on one H100/H200.

What it measures, each into `<out>/gpu-checks.json` (bench results also as their own JSON files):
1. sd15 at 512² (random weights, full-size architectures): latency and peak memory of every mode
   (txt2img, img2img, inpaint, ControlNet, T2I-Adapter, AnimateDiff 16 frames), fp16, warm.
2. sdxl at 1024²: the same for every sdxl mode.
3. Out-of-memory recovery: the memory fraction is capped so a big batch does not fit; the engine
   must split it, retry, finish, and leave memory within 5 % of the baseline; repeated.
4. `lcm-bot bench` side by side (per-request baseline vs engine), sd15 512² 4 steps, 32 users,
   full VAE and TAESD; sdxl 1024² 4 steps; and, with the time left, sd15 with torch.compile.
5. Exploration (issue 15), sd15 512² 4 steps through the engine: a nudge click's render and PNG
   (p50/p95 of 20; target ≤ 0.5 s p50 on an H100), five quick clicks of one session (renders:
   at most 2), and a 16-cell sweep sheet, first cell and complete with its labels (target ≤ 2 s).

Each step runs in its own process with a time box, so one slow or hung step (a compile, a driver
stall) cannot eat the run: the boxes add up to the budget (`--budget-s`, default 465 s), a step
that would not fit what is left is skipped, and a step past its box is killed with what it had
measured so far kept. A capped memory fraction or a leaked allocation dies with its process too.

Device command (wheels for what the device lacks are carried in `.whl`, see bench/README.md):
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl \\
      && PYTHONPATH=/tmp/site:. python3 bench/gpu_checks.py --out $OUT

`--cpu-smoke` checks the script itself on a CPU: every mode of the `tiny` and `tiny-xl` families,
ControlNet and T2I-Adapter through the full-size random `sd15` set, the OOM recovery, a bench, and
every mode of every hub family read by its real hub ids from the hub-faithful offline cache.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Never start a step with less than this left: loading a family alone takes longer.
MIN_START_S = 20.0
# Default budget: 7 min 45 s, so the whole script (steps plus process starts) ends within 8 min.
GPU_BUDGET_S = 465.0


@dataclass(frozen=True)
class Step:
    """One measurement, run in a child process. ``box_s`` None: all the budget that is left."""

    name: str
    box_s: float | None
    run: Callable[[Progress], dict]
    env: Mapping[str, str] = field(default_factory=dict)
    min_s: float = MIN_START_S  # not started with less left than this


class Progress:
    """What a step has measured so far, on disk after every entry, so a killed step keeps it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict = {}

    def __setitem__(self, key: str, value) -> None:
        self.data[key] = value
        _write_json(self.path, {"partial": self.data})


# --------------------------------------------------------------------------- the plans


def gpu_plan(out: Path) -> list[Step]:
    """Boxes estimated for an H100 with headroom (no device run has timed them yet): 465 s."""
    sd15 = _bench_options(model="sd15", users=32, jobs_per_user=4, size=512, batch_images=32)
    sdxl = _bench_options(model="sdxl", users=8, jobs_per_user=2, size=1024, batch_images=8)
    return [
        Step("build-sd15", 75, lambda p: build_random("sd15")),
        Step("modes-sd15", 50, lambda p: measure_modes(p, _random("sd15"), 512, smoke=False)),
        Step("oom-recovery-sd15", 40, lambda p: oom_recovery(p, _random("sd15"), 512, False)),
        # Issue 15's targets: nudge click → edited image ≤ 0.5 s p50; 16-cell sheet ≤ 2 s.
        Step("exploration-sd15", 35, lambda p: exploration(p, _random("sd15"), 512, smoke=False)),
        Step("bench-sd15-512", 55, lambda p: bench(sd15, out / "bench-sd15-512.json")),
        Step(
            "bench-sd15-512-taesd",
            40,
            lambda p: bench({**sd15, "quality": "fast"}, out / "bench-sd15-512-taesd.json"),
        ),
        Step("build-sdxl", 75, lambda p: build_random("sdxl")),
        Step("modes-sdxl", 50, lambda p: measure_modes(p, _random("sdxl"), 1024, smoke=False)),
        Step("bench-sdxl-1024", 45, lambda p: bench(sdxl, out / "bench-sdxl-1024.json")),
        # Inductor's default mode: max-autotune tunes every GEMM of every batch bucket, which
        # takes far longer than the few minutes left here.
        Step(
            "bench-sd15-512-compiled",
            None,
            lambda p: bench(
                {**sd15, "compile_mode": "default"}, out / "bench-sd15-512-compiled.json"
            ),
            min_s=120,  # compiling the UNet for each batch bucket alone takes minutes
        ),
    ]


def smoke_plan(out: Path) -> list[Step]:
    """The same code paths on a CPU: tiny families in every mode, full-size sd15 controls."""
    from generation.modes import Mode

    controls = (Mode.CONTROLNET, Mode.T2I_ADAPTER)
    tiny = _bench_options(model="tiny", device="cpu", random_weights=False, users=4)
    return [
        Step("modes-tiny", 300, lambda p: measure_modes(p, _tiny("tiny"), 64, smoke=True)),
        Step("modes-tiny-xl", 300, lambda p: measure_modes(p, _tiny("tiny-xl"), 64, smoke=True)),
        Step("oom-recovery-tiny", 180, lambda p: oom_recovery(p, _tiny("tiny"), 64, True)),
        Step("exploration-tiny", 180, lambda p: exploration(p, _tiny("tiny"), 64, smoke=True)),
        Step(
            "bench-tiny",
            300,
            lambda p: bench({**tiny, "jobs_per_user": 2}, out / "bench-tiny.json"),
        ),
        # The first build of the full-size sd15 set with its companions is minutes on a CPU.
        Step("build-sd15", 1500, lambda p: build_random("sd15")),
        # One denoising step at sd15's smallest size: the full-size shapes and the pipeline
        # path are what is checked, not the speed.
        Step(
            "controls-sd15-full-size",
            900,
            lambda p: measure_modes(p, _random("sd15"), 256, smoke=True, modes=controls, steps=1),
        ),
        Step("build-hub-faithful", 900, lambda p: hub_home(out)),
        *(
            Step(
                f"hub-{name}",
                300,
                lambda p, name=name: hub_family_modes(p, name, out),
                # huggingface_hub reads both at import: hence a process with this environment.
                env={"HF_HOME": str(out / "hf-home"), "HF_HUB_OFFLINE": "1"},
            )
            for name in _hub_families()
        ),
    ]


def _hub_families() -> tuple[str, ...]:
    from generation.models.families import HUB_FAMILIES

    return tuple(HUB_FAMILIES)


def _tiny(name: str):
    from generation.models.families import resolve_family

    return resolve_family(name)


def _random(name: str):
    from generation.models.testing.random_models import random_weight_family

    return random_weight_family(name, companions=True)


def _bench_options(**fields) -> dict:
    return {"random_weights": True, "device": "cuda", "steps": 4, **fields}


# --------------------------------------------------------------------------- the steps


def build_random(name: str) -> dict:
    """Build (or find) the full-size random family with its companions: on the GPU, seconds."""
    from generation.modes import supported_modes

    started = time.perf_counter()
    family = _random(name)
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "base": family.base,
        "modes": [str(mode) for mode in supported_modes(family)],
    }


def hub_home(out: Path) -> dict:
    """An HF_HOME under ``out`` whose hub/ is the hub-faithful cache (built once, then reused).

    Every registry hub id is there as a repository in the hub's own layout with tiny random
    weights; what the production code writes into HF_HOME lands under ``out``, not in the cache.
    """
    from generation.models.testing.hub_faithful import ensure_hub_cache

    started = time.perf_counter()
    built = ensure_hub_cache()
    link = out / "hf-home" / "hub"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and link.resolve() != (built / "hub").resolve():
        link.unlink()  # an older cache version's, from an earlier run into the same folder
    if not link.exists():
        link.symlink_to(built / "hub", target_is_directory=True)
    return {"seconds": round(time.perf_counter() - started, 1), "cache": str(built)}


def hub_family_modes(progress: Progress, name: str, out: Path) -> dict:
    """Every mode of hub family ``name`` from its real hub ids, read from the hub-faithful cache.

    The production loading path resolves each id in HF_HOME offline, as for an operator; two steps
    at the family's smallest size, since the weights are tiny and the path is what is checked.
    """
    from generation.models.families import resolve_family

    hub_home(out)
    family = resolve_family(name)
    return measure_modes(progress, family, family.min_side, smoke=True, steps=2)


def _pipelines(family, smoke: bool):
    """fp16 on the GPU (what operators run); fp32 for the CPU smoke run."""
    import torch

    from generation.modes.pipelines import PipelineSet

    if smoke:
        return PipelineSet(family, device="cpu", dtype=torch.float32)
    return PipelineSet(family, device="cuda", dtype=torch.float16)


def _request(pipes, mode, size: int, steps: int | None = None, **fields):
    """A validated request for ``mode`` at ``size``; the mode's recipe fills what is not given."""
    from PIL import Image, ImageDraw

    from generation.modes.requests import GenerationRequest, validate_request

    picture = Image.new("RGB", (size, size), (100, 120, 160))
    ImageDraw.Draw(picture).ellipse(
        (size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=(240, 200, 40)
    )
    mask = Image.new("L", (size, size), 0)
    mask.paste(255, (size // 4, size // 4, 3 * size // 4, 3 * size // 4))
    if steps is not None:
        fields["steps"] = steps
    request = GenerationRequest(
        mode=mode,
        prompt="a lighthouse at dusk, oil painting",
        width=size,
        height=size,
        seed=1,
        image=picture if mode.needs_image else None,
        mask=mask if str(mode) == "inpaint" else None,
        **fields,
    )
    return validate_request(request, pipes.family, pipes.styles)


def _timed(pipes, request, smoke: bool) -> dict:
    import torch

    if not smoke:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    pipes.run([request])
    if not smoke:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    peak = None if smoke else torch.cuda.max_memory_allocated()
    return {
        "latency_ms": round(seconds * 1000, 1),
        "peak_memory_gib": None if peak is None else round(peak / 2**30, 2),
    }


def measure_modes(
    progress: Progress, family, size: int, *, smoke: bool, modes=None, steps: int | None = None
) -> dict:
    """Latency and peak memory of each mode (default: every mode the family has), warm on a GPU.

    The CPU smoke run calls each mode once: the path is what it checks, not the speed.
    """
    import torch

    from generation.modes import supported_modes

    pipes = _pipelines(family, smoke)
    if not smoke:
        progress["weights_gib"] = round(torch.cuda.memory_allocated() / 2**30, 2)
    for mode in modes or supported_modes(family):
        request = _request(pipes, mode, size, steps)
        if not smoke:
            pipes.run([request])  # warm: first-call allocations and kernel choice
        progress[str(mode)] = {
            **_timed(pipes, request, smoke),
            "size": f"{request.width}x{request.height}",
            "steps": request.steps,
            "frames": request.frames if str(mode) == "animate" else 1,
        }
    return progress.data


def oom_recovery(progress: Progress, family, size: int, smoke: bool) -> dict:
    """Cap the memory so a batch of 32 cannot fit; the engine splits it, retries, and recovers."""
    import asyncio
    from dataclasses import replace

    import torch

    from generation.engine import Engine, EngineConfig
    from generation.engine.events import JobSpec
    from generation.modes import Mode

    pipes = _pipelines(family, smoke)
    calls: list[int] = []

    class Recording:
        def run(self, requests, on_step):
            calls.append(sum(r.count for r in requests))
            if smoke and len(requests) > 16:  # no memory cap on a CPU: inject the OOM instead
                raise torch.OutOfMemoryError("CUDA out of memory (injected on the CPU)")
            return pipes.run(requests, on_step)

        def memory_bytes(self):
            return pipes.memory_bytes()

    one = _request(pipes, Mode.TXT2IMG, size)
    pipes.run([one])
    if not smoke:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
        pipes.run([one])
        per_image = torch.cuda.max_memory_allocated() - baseline
        total = torch.cuda.get_device_properties(0).total_memory
        # Room for about 20 images: a batch of 32 cannot fit; its two halves of 16 can.
        torch.cuda.set_per_process_memory_fraction((baseline + 20 * per_image) / total)

    async def one_round(index: int) -> dict:
        config = EngineConfig(batch_budget=32 * size * size, per_user_cap=64, global_cap=256)
        async with Engine(lambda: Recording(), family=family, config=config) as engine:
            calls.clear()
            handles = [
                engine.submit(
                    JobSpec(f"r{index}-{n}", user_id=n, guild_id=1, request=replace(one, seed=n))
                )
                for n in range(32)
            ]
            events = await asyncio.gather(*(h.wait() for h in handles))
            after = await engine.submit(
                JobSpec(f"r{index}-after", user_id=99, guild_id=1, request=one)
            ).result()
        return {
            "calls": list(calls),
            "finished": sum(type(e).__name__ == "JobFinished" for e in events),
            "failed": sum(type(e).__name__ == "JobFailed" for e in events),
            "next_job_ok": bool(after.images),
        }

    for index in range(3):
        outcome = asyncio.run(one_round(index))
        if not smoke:
            torch.cuda.synchronize()
            outcome["memory_vs_baseline_pct"] = round(
                100 * (torch.cuda.memory_allocated() - baseline) / baseline, 2
            )
        progress[f"round-{index}"] = outcome
    return progress.data


def exploration(progress: Progress, family, size: int, smoke: bool, pipes=None) -> dict:
    """Nudge clicks and a contact sheet through the engine, txt2img at ``size``, 4 steps: click
    → PNG p50/p95 (20 clicks), five quick clicks' renders, a 16-cell sheet (the bot's default 8
    images a GPU call). The CPU smoke run takes 3 clicks and 4 cells: the path, not the speed.
    ``pipes``: pipelines already loaded for ``family`` (the test suite's)."""
    import asyncio

    from bench.exploration import engine_exploration
    from generation.modes import Mode

    pipes = pipes or _pipelines(family, smoke)
    request = _request(pipes, Mode.TXT2IMG, size, 4)
    clicks, cells = (3, 4) if smoke else (20, 16)
    data = asyncio.run(
        engine_exploration(pipes, request, clicks=clicks, cells=cells, batch_images=8)
    )
    for key, value in data.items():
        progress[key] = value
    return progress.data


def bench(fields: dict, path: Path) -> dict:
    import asyncio
    from dataclasses import asdict

    from generation.bench import BenchOptions, run_bench

    data = asdict(asyncio.run(run_bench(BenchOptions(**fields))))
    _write_json(path, data)
    return data


# --------------------------------------------------------------------------- running


def run_plan(plan_ref: str, out: Path, budget_s: float, only=None) -> dict:
    """Run each step of the plan ``module:function`` in a child process within its box.

    Returns the report, also written to ``out/gpu-checks.json`` after every step.
    """
    plan = load_plan(plan_ref)(out)
    deadline = time.monotonic() + budget_s
    report: dict = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "budget_s": budget_s,
        "steps": {},
    }
    (out / "steps").mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    for step in plan:
        if only and step.name not in only:
            continue
        left = deadline - time.monotonic()
        box = left if step.box_s is None else min(step.box_s, left)
        # A boxed step starts only when most of its box is left, so later boxes stay whole.
        wanted = step.min_s if step.box_s is None else max(step.min_s, 0.8 * step.box_s)
        if left < wanted:
            entry = {"skipped": f"{left:.0f} s of the budget left, the step needs {wanted:.0f}"}
        else:
            entry = _run_child(step, plan_ref, out, box)
        report["steps"][step.name] = entry
        report["device"] = report.get("device") or entry.get("device")
        _write_json(out / "gpu-checks.json", report)
        outcome = "skipped" if "skipped" in entry else entry.get("ok")
        print(f"{step.name}: {outcome} in {entry.get('seconds', 0)} s", flush=True)
        if entry.get("ok") is False:
            print(entry.get("error", "")[-2000:], flush=True)
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    report["seconds"] = round(budget_s - (deadline - time.monotonic()), 1)
    _write_json(out / "gpu-checks.json", report)
    return report


def _run_child(step: Step, plan_ref: str, out: Path, box: float) -> dict:
    result_path = out / "steps" / f"{step.name}.json"
    result_path.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--out", str(out)]
    command += ["--plan", plan_ref, "--step", step.name]
    # Nothing here may reach a model hub: the random and tiny families are local folders.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **step.env}
    started = time.monotonic()
    log_path = out / "logs" / f"{step.name}.log"
    with open(log_path, "w") as log:
        # Its own session: a timeout kills the step's whole process group (compile workers too).
        child = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            child.wait(timeout=box)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            timed_out = True
    entry = _read_json(result_path)
    if timed_out:
        entry.update(ok=False, error=f"killed at its {box:.0f} s box")
    elif "ok" not in entry:
        tail = log_path.read_text(errors="replace")[-2000:]
        entry.update(ok=False, error=f"exited with {child.returncode}: {tail}")
    entry.update(seconds=round(time.monotonic() - started, 1), box_s=round(box))
    return entry


def run_step(step: Step, out: Path) -> int:
    """The child's side: run one step and write its result (partial results as it goes)."""
    path = out / "steps" / f"{step.name}.json"
    progress = Progress(path)
    started = time.monotonic()
    try:
        entry = {"ok": True, "result": step.run(progress)}
    except Exception as exc:
        entry = {
            "ok": False,
            "error": repr(exc),
            "traceback": traceback.format_exc()[-3000:],
            "partial": progress.data,
        }
    entry.update(_device())
    entry["child_seconds"] = round(time.monotonic() - started, 1)
    _write_json(path, entry)
    return 0 if entry["ok"] else 1


def _write_json(path: Path, data) -> None:
    # Written whole then renamed: the parent may read it after a kill at any moment.
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(data, indent=2, default=str) + "\n")
    partial.replace(path)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def load_plan(ref: str) -> Callable[[Path], list[Step]]:
    """The plan factory named ``module:function`` (a child process finds its step the same way)."""
    import importlib

    module, _, function = ref.partition(":")
    return getattr(importlib.import_module(module), function)


def _device() -> dict:
    """The device a step ran on: CUDA's name, unless the run is a CPU one or has no CUDA."""
    torch = sys.modules.get("torch")  # a step that never imported torch used no device
    if torch is None:
        return {"device": "cpu"}
    if os.environ.get(_CPU_ONLY) == "1" or not torch.cuda.is_available():
        return {"device": "cpu", "torch": torch.__version__}
    return {"device": torch.cuda.get_device_name(), "torch": torch.__version__}


PLANS = {"gpu": "bench.gpu_checks:gpu_plan", "smoke": "bench.gpu_checks:smoke_plan"}
# Set for the children of a CPU run, so they never ask for a CUDA device.
_CPU_ONLY = "LCM_GPU_CHECKS_CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help=f"the whole run's time (default {GPU_BUDGET_S:.0f} s; the smoke run: its boxes)",
    )
    parser.add_argument("--cpu-smoke", action="store_true", help="check the script on a CPU")
    parser.add_argument("--only", nargs="+", metavar="STEP", help="run only these steps")
    # A child process: run one step of the plan ``module:function``.
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    plan_ref = args.plan or PLANS["smoke" if args.cpu_smoke else "gpu"]
    plan = load_plan(plan_ref)(args.out)
    names = [step.name for step in plan]
    unknown = sorted((set(args.only or ()) | {args.step}) - set(names) - {None})
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; steps: {', '.join(names)}")
    if args.step:
        return run_step(plan[names.index(args.step)], args.out)
    if args.cpu_smoke:
        os.environ[_CPU_ONLY] = "1"  # inherited by every child
    budget = args.budget_s
    if budget is None:
        budget = sum(s.box_s or 0 for s in plan) if args.cpu_smoke else GPU_BUDGET_S
    report = run_plan(plan_ref, args.out, budget, args.only)
    failed = [name for name, entry in report["steps"].items() if entry.get("ok") is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
