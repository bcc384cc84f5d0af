"""Writes the example pipeline's A/B experiments: one per candidate, each against the
baseline's arm `control`, with known effects, so the analysis can be checked against
the truth.

    python3 examples/pipeline/generate_ab.py     # rewrites examples/pipeline/ab/*.csv

Per user: `converted` (0/1; control rate 10%, each user's own rate varying around it)
and `latency_ms` (a guardrail, lognormal). True effects, relative to control:
- brief: conversion +25% (10% -> 12.5%), latency -5%: ships.
- gemma: conversion -10%, latency +20%: does not ship.
Standard library only; seeded, so the files are the same on every machine.
"""

import csv
import math
import random
from pathlib import Path

EFFECTS = {
    # candidate: (conversion multiplier, latency multiplier)
    "brief": (1.25, 0.95),
    "gemma": (0.90, 1.20),
}
USERS_PER_ARM = 4000
BASE_RATE = 0.10


def write(candidate: str, conversion: float, latency: float, seed: int) -> None:
    rng = random.Random(seed)
    path = Path(__file__).parent / "ab" / f"{candidate}.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["user_id", "variant", "converted", "latency_ms"])
        for i in range(2 * USERS_PER_ARM):
            arm = "control" if i % 2 == 0 else candidate
            # Users differ; lognormal(0, 0.6) has mean exp(0.18), so the mean rate is 10%.
            propensity = min(1.0, BASE_RATE * rng.lognormvariate(0.0, 0.6) / math.exp(0.18))
            rate = propensity * (conversion if arm != "control" else 1.0)
            converted = int(rng.random() < min(rate, 1.0))
            ms = 800.0 * rng.lognormvariate(0.0, 0.35) * (latency if arm != "control" else 1.0)
            out.writerow([f"u{seed}-{i}", arm, converted, f"{ms:.1f}"])


if __name__ == "__main__":
    for k, (name, (conversion, latency)) in enumerate(sorted(EFFECTS.items())):
        write(name, conversion, latency, seed=1000 + k)
