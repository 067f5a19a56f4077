"""Injected 429s and 5xx answers, seeded, and capped so that discord.py's five tries succeed."""

from __future__ import annotations

import random
import time
from collections.abc import Collection
from dataclasses import dataclass, field

from .state import RestCall

# Routes a fault may hit unless told otherwise: every API route, not the attachment CDN.
DEFAULT_EXCLUDED = frozenset({"attachment", "unexpected"})


@dataclass
class FaultPlan:
    kind: str  # "rate_limit" or "server_error"
    fraction: float
    rng: random.Random
    routes: Collection[str] | None  # route names; None: every API route
    max_consecutive: int  # per method + path, so a retried request eventually passes
    status: int = 429
    retry_after: float = 0.01
    is_global: bool = False
    after_processing: bool = False
    cloudflare: bool = False  # a 429 without Via: discord.py raises instead of retrying
    echo_request: bool = False  # the error page quotes the request, Authorization header and all
    consecutive: dict[str, int] = field(default_factory=dict)

    def applies(self, call: RestCall) -> bool:
        if call.route in DEFAULT_EXCLUDED:
            return False
        return self.routes is None or call.route in self.routes

    def roll(self, call: RestCall) -> bool:
        """Whether this call fails; a retry of a failed call (same method and path) counts up."""
        if not self.applies(call):
            return False
        key = f"{call.method} {call.path}"
        hit = self.consecutive.get(key, 0) < self.max_consecutive and (
            self.rng.random() < self.fraction
        )
        self.consecutive[key] = self.consecutive.get(key, 0) + 1 if hit else 0
        return hit


def rate_limit_headers(bucket: str, retry_after: float, *, is_global: bool) -> dict[str, str]:
    """What Discord sends with a 429; without ``Via`` discord.py takes it for a Cloudflare ban."""
    headers = {
        "Via": "1.1 google",
        "Retry-After": str(max(1, round(retry_after))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Scope": "global" if is_global else "user",
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    return headers


def ok_headers(bucket: str) -> dict[str, str]:
    """Rate limit headers of a successful answer: plenty left, so discord.py never waits."""
    return {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "4",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Bucket": bucket,
    }


def make_plan(
    kind: str,
    fraction: float,
    seed: int,
    *,
    routes: Collection[str] | None,
    max_consecutive: int,
    status: int,
    retry_after: float = 0.01,
    is_global: bool = False,
    after_processing: bool = False,
    cloudflare: bool = False,
    echo_request: bool = False,
) -> FaultPlan:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("fraction must be within [0, 1]")
    return FaultPlan(
        kind=kind,
        fraction=fraction,
        rng=random.Random(seed),
        routes=None if routes is None else frozenset(routes),
        max_consecutive=max_consecutive,
        status=status,
        retry_after=retry_after,
        is_global=is_global,
        after_processing=after_processing,
        cloudflare=cloudflare,
        echo_request=echo_request,
    )
