"""
Env steps per second of ``learn()``: SB3 SAC against SACX (six tasks) on SparseLunarLanderContinuous-v0,
one after the other in one process, with the same network, batch size and update schedule (SPEC section 7).

    python benchmarks/throughput.py --steps 3000 --repeats 2

Prints a table and writes ``benchmarks/results/throughput.csv`` and ``.png``. Timing on a shared machine is
noisy: read the ratio to SAC measured in the same run, not the absolute figures.
"""

import argparse
import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_sacx import SACX

ENV_ID = "SparseLunarLanderContinuous-v0"
RESULTS = Path(__file__).parent / "results"
COMMON = dict(batch_size=256, train_freq=1, gradient_steps=1, buffer_size=100_000, seed=0)
NET_ARCH = [256, 256]


def variants(warmup: int) -> dict[str, Callable[[], BaseAlgorithm]]:
    """The algorithms to time, each built fresh (the warm-up steps are random actions, not timed)."""
    common: dict[str, Any] = dict(COMMON, learning_starts=warmup)
    return {
        "SAC": lambda: SAC("MlpPolicy", ENV_ID, policy_kwargs=dict(net_arch=NET_ARCH), **common),
        "SACX T=8": lambda: SACX("MlpPolicy", ENV_ID, policy_kwargs=dict(net_arch=NET_ARCH), retrace_steps=8, **common),
        # The action joins at the second layer, as in DDPG's critic: each of the K head actions per state costs a sum and
        # the output layer instead of a whole network
        "SACX T=8, DDPG-style critic": lambda: SACX(
            "MlpPolicy", ENV_ID, policy_kwargs=dict(net_arch=NET_ARCH, critic_action_layer=1), retrace_steps=8, **common
        ),
        # bfloat16 matrix multiplies in the gradient step (float32 weights, losses and Retrace)
        "SACX T=8, mixed precision": lambda: SACX(
            "MlpPolicy", ENV_ID, policy_kwargs=dict(net_arch=NET_ARCH), retrace_steps=8, mixed_precision=True, **common
        ),
        "SACX T=1": lambda: SACX("MlpPolicy", ENV_ID, policy_kwargs=dict(net_arch=NET_ARCH), retrace_steps=1, **common),
    }


def steps_per_second(make_model: Callable[[], BaseAlgorithm], warmup: int, steps: int) -> float:
    """Time ``steps`` training steps (one gradient step each) after ``warmup`` untimed steps."""
    model = make_model()
    model.learn(warmup)
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000, help="timed training steps per run")
    parser.add_argument("--warmup", type=int, default=1000, help="untimed steps before timing (fills the buffer)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each variant, interleaved; the best counts")
    args = parser.parse_args()

    rates: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, make_model in variants(args.warmup).items():
            rates.setdefault(name, []).append(steps_per_second(make_model, args.warmup, args.steps))
            print(f"{name:36s} {rates[name][-1]:7.1f} steps/s", flush=True)

    best = {name: max(values) for name, values in rates.items()}
    rows = [
        dict(variant=name, steps_per_second=round(rate, 1), ratio_to_sac=round(rate / best["SAC"], 3))
        for name, rate in best.items()
    ]
    print(f"\ntorch {th.__version__}, {th.get_num_threads()} thread(s), {args.steps} timed steps, best of {args.repeats}")
    print(f"{'variant':36s} {'steps/s':>8s} {'ratio to SAC':>13s}")
    for row in rows:
        print(f"{row['variant']:36s} {row['steps_per_second']:8.1f} {row['ratio_to_sac']:13.3f}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "throughput.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, RESULTS / "throughput.png")


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    ax.barh([row["variant"] for row in rows], [row["ratio_to_sac"] for row in rows])
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("env steps/s relative to SB3 SAC (same run)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
