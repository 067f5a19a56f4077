"""Every GPU measurement of the fast-path issue in one run (under 10 minutes on one H100/H200).

What it measures, each into `<out>/gpu-checks.json` (bench results also as their own JSON files):
1. sd15 at 512² (random weights, full-size architectures): latency and peak memory of txt2img,
   img2img, inpaint, ControlNet, T2I-Adapter and AnimateDiff (16 frames), fp16, once each warm.
2. sdxl at 1024²: the same for txt2img, img2img, inpaint, ControlNet and T2I-Adapter.
3. Out-of-memory recovery: the memory fraction is capped so a big batch does not fit; the engine
   must split it, retry, finish, and leave memory within 5 % of the baseline; repeated.
4. `lcm-bot bench` side by side (per-request baseline vs engine), sd15 512² 4 steps, 32 users,
   full VAE and TAESD; sdxl 1024² 4 steps; and, time allowing, sd15 with torch.compile.

Device command (wheels for what the device lacks are carried in `.whl`, see bench/README.md):
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl \\
      && PYTHONPATH=/tmp/site:. python3 bench/gpu_checks.py --out $OUT --budget-s 540

`--cpu-smoke` runs the same code paths on the tiny family on a CPU, to check the script itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import traceback
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from generation.bench import BenchOptions, run_bench
from generation.families import Mode, resolve_family
from generation.pipelines import PipelineSet
from generation.requests import GenerationRequest, validate_request

SD15_MODES = (
    Mode.TXT2IMG,
    Mode.IMG2IMG,
    Mode.INPAINT,
    Mode.CONTROLNET,
    Mode.T2I_ADAPTER,
    Mode.ANIMATE,
)
SDXL_MODES = SD15_MODES[:-1]


class Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget-s", type=float, default=540)
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny family on the CPU")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    budget = Budget(args.budget_s)
    report: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "steps": {}}
    smoke = args.cpu_smoke
    report["device"] = "cpu (smoke)" if smoke else torch.cuda.get_device_name()
    report["torch"] = torch.__version__

    def step(name: str, function, *fargs, min_left: float = 30.0):
        if budget.left() < min_left:
            report["steps"][name] = {"skipped": f"only {budget.left():.0f} s of budget left"}
            return
        started = time.monotonic()
        try:
            report["steps"][name] = {"result": function(*fargs), "ok": True}
        except Exception as exc:
            report["steps"][name] = {
                "ok": False,
                "error": repr(exc),
                "traceback": traceback.format_exc()[-3000:],
            }
        report["steps"][name]["seconds"] = round(time.monotonic() - started, 1)
        (args.out / "gpu-checks.json").write_text(json.dumps(report, indent=2, default=str))
        print(
            f"{name}: {report['steps'][name].get('ok')} in {report['steps'][name]['seconds']} s",
            flush=True,
        )

    family_of = (lambda name: resolve_family("tiny")) if smoke else _random_family
    size_of = {"sd15": 64 if smoke else 512, "sdxl": 64 if smoke else 1024}
    step("modes-sd15", measure_modes, family_of("sd15"), SD15_MODES, size_of["sd15"], smoke)
    step("oom-recovery-sd15", oom_recovery, family_of("sd15"), size_of["sd15"], smoke)
    for name, options in _benches(smoke):
        step(name, bench, options, args.out / f"{name}.json", min_left=90)
    if not smoke:
        step(
            "modes-sdxl",
            measure_modes,
            family_of("sdxl"),
            SDXL_MODES,
            size_of["sdxl"],
            smoke,
            min_left=120,
        )
        step(
            "bench-sdxl-1024",
            bench,
            BenchOptions(
                model="sdxl",
                random_weights=True,
                device="cuda",
                users=8,
                jobs_per_user=2,
                size=1024,
                steps=4,
                batch_images=8,
            ),
            args.out / "bench-sdxl-1024.json",
            min_left=120,
        )
        step(
            "bench-sd15-512-compiled",
            bench,
            BenchOptions(
                model="sd15",
                random_weights=True,
                device="cuda",
                users=32,
                jobs_per_user=4,
                size=512,
                steps=4,
                batch_images=32,
                compile_mode="max-autotune-no-cudagraphs",
            ),
            args.out / "bench-sd15-512-compiled.json",
            min_left=240,
        )
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    (args.out / "gpu-checks.json").write_text(json.dumps(report, indent=2, default=str))
    return 0


def _random_family(name: str):
    from generation.random_models import random_weight_family

    return random_weight_family(name, companions=True)


def _benches(smoke: bool):
    if smoke:
        yield "bench-tiny", BenchOptions(model="tiny", device="cpu", users=4, jobs_per_user=2)
        return
    common = dict(
        model="sd15",
        random_weights=True,
        device="cuda",
        users=32,
        jobs_per_user=4,
        size=512,
        steps=4,
        batch_images=32,
    )
    yield "bench-sd15-512", BenchOptions(**common)
    yield "bench-sd15-512-taesd", BenchOptions(**common, quality="fast")


def _pipelines(family, smoke: bool) -> PipelineSet:
    """fp16 on the GPU (what operators run); fp32 for the CPU smoke run."""
    if smoke:
        return PipelineSet(family, device="cpu", dtype=torch.float32)
    return PipelineSet(family, device="cuda", dtype=torch.float16)


def _request(pipes: PipelineSet, mode: Mode, size: int, **fields) -> GenerationRequest:
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (size, size), (100, 120, 160))
    ImageDraw.Draw(picture).ellipse(
        (size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=(240, 200, 40)
    )
    mask = Image.new("L", (size, size), 0)
    mask.paste(255, (size // 4, size // 4, 3 * size // 4, 3 * size // 4))
    request = GenerationRequest(
        mode=mode,
        prompt="a lighthouse at dusk, oil painting",
        width=size,
        height=size,
        steps=4,
        seed=1,
        image=picture if mode.needs_image else None,
        mask=mask if mode is Mode.INPAINT else None,
        frames=16,
        **fields,
    )
    return validate_request(request, pipes.family, pipes.styles)


def _timed(pipes: PipelineSet, request: GenerationRequest, smoke: bool) -> dict:
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


def measure_modes(family, modes, size: int, smoke: bool) -> dict:
    pipes = _pipelines(family, smoke)
    results = {"weights_gib": None if smoke else round(torch.cuda.memory_allocated() / 2**30, 2)}
    for mode in modes:
        request = _request(pipes, mode, size)
        pipes.run([request])  # warm: first-call allocations and kernel choice
        results[str(mode)] = {
            **_timed(pipes, request, smoke),
            "size": f"{size}x{size}",
            "frames": 16 if mode is Mode.ANIMATE else 1,
        }
    del pipes
    if not smoke:
        torch.cuda.empty_cache()
    return results


def oom_recovery(family, size: int, smoke: bool) -> dict:
    """Cap the memory so a batch of 32 cannot fit; the engine splits it, retries, and recovers."""
    from generation.engine import Engine, EngineConfig
    from generation.events import JobSpec

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
    rounds = []

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
        rounds.append(outcome)
    if not smoke:
        torch.cuda.set_per_process_memory_fraction(1.0)
    return {"rounds": rounds}


def bench(options: BenchOptions, path: Path) -> dict:
    report = asyncio.run(run_bench(options))
    data = asdict(report)
    path.write_text(json.dumps(data, indent=2) + "\n")
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return data


if __name__ == "__main__":
    sys.exit(main())
