"""
Env steps per second of ``learn()``: SB3 SAC against SACX (six tasks) with its defaults and with each speed option, on
SparseLunarLanderContinuous-v0, in one process, with the same network, batch size and update schedule (SPEC section 7),
stated beside the CPU's capabilities.

    OMP_NUM_THREADS=1 python benchmarks/throughput.py --steps 2000 --repeats 3
    python benchmarks/throughput.py --steps 2000 --repeats 3 --threads 1 2   # each thread count in turn

Each repeat times SAC, then every row of ``SACX_ROWS``; a row's ratio is its rate over SAC's in the same repeat (at the
same thread count), and the
table shows the median over repeats with the spread of the ratios, and the ratio of steps per second of the process's
CPU time (less disturbed by other jobs on the machine). Rows with ``mixed_precision=True`` are skipped on a device that
emulates bfloat16 (many times slower) unless ``--emulated-bf16``. Prints the table and writes
``benchmarks/results/throughput.csv`` and ``.png``. Timing on a shared machine is noisy: read the ratios, not the
absolute figures.
"""

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import torch as th
from common import ENV_IDS, RESULTS, pyplot, write_rows
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import get_device

from sb3_sacx import SACX
from sb3_sacx.hardware import cpu_capabilities, describe, native_bfloat16

ENV_ID = ENV_IDS["continuous"]
COMMON = dict(batch_size=256, train_freq=1, gradient_steps=1, buffer_size=100_000, seed=0)
NET_ARCH = [256, 256]

# Row name -> SACX keyword arguments on top of COMMON (policy_kwargs are added to net_arch=NET_ARCH)
SACX_ROWS: dict[str, dict[str, Any]] = {
    "SACX defaults": {},
    # bfloat16 matrix multiplies in the gradient step (float32 weights, losses and Retrace)
    "SACX mixed_precision=True": dict(mixed_precision=True),
    # The action joins at the second layer, as in DDPG's critic: each of the K head actions per state costs a sum and
    # the output layer instead of a whole network
    "SACX critic_action_layer=1": dict(policy_kwargs=dict(critic_action_layer=1)),
}


class TrainTimer(BaseCallback):
    """Wall time of ``train()`` in ``learn()``: from each rollout's end to the next rollout's (or the training's) end."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0
        self._rollout_end: Optional[float] = None

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self._rollout_end = time.perf_counter()

    def _on_rollout_start(self) -> None:
        if self._rollout_end is not None:
            self.seconds += time.perf_counter() - self._rollout_end
            self._rollout_end = None

    def _on_training_end(self) -> None:
        self._on_rollout_start()


def make_model(sacx_kwargs: Optional[dict[str, Any]], warmup: int) -> BaseAlgorithm:
    """
    :param sacx_kwargs: a row of ``SACX_ROWS``, or None for SB3's SAC.
    :param warmup: random-action steps before learning starts.
    """
    if sacx_kwargs is None:
        return SAC("MlpPolicy", ENV_ID, policy_kwargs=dict(net_arch=NET_ARCH), learning_starts=warmup, **COMMON)
    kwargs = dict(sacx_kwargs)
    policy_kwargs = dict(net_arch=NET_ARCH, **kwargs.pop("policy_kwargs", {}))
    return SACX("MlpPolicy", ENV_ID, policy_kwargs=policy_kwargs, learning_starts=warmup, **COMMON, **kwargs)


def time_learning(make: Callable[[], BaseAlgorithm], warmup: int, steps: int) -> tuple[float, float, float]:
    """
    Time ``steps`` training steps (one gradient step each) after ``warmup`` untimed random-action steps.

    :param make: builds the model to time, its ``learning_starts`` being ``warmup``.
    :param warmup: untimed random-action steps, which fill the buffer.
    :param steps: timed training steps.
    :return: env steps per second of wall time and per second of the process's CPU time (which the other jobs on a
        shared machine disturb much less), and milliseconds of wall time per gradient step.
    """
    model = make()
    model.learn(warmup)
    timer = TrainTimer()
    start, cpu_start = time.perf_counter(), time.process_time()
    model.learn(steps, callback=timer, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start), steps / (time.process_time() - cpu_start), timer.seconds / steps * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="timed training steps per run")
    parser.add_argument("--warmup", type=int, default=1000, help="untimed steps before timing (fills the buffer)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of SAC and of each row, interleaved; the median counts")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=None, help="torch thread counts, each timed (default: torch's own)"
    )
    parser.add_argument("--emulated-bf16", action="store_true", help="time mixed_precision rows without native bfloat16")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where throughput.csv and .png go")
    args = parser.parse_args()

    rows: dict[str, Optional[dict[str, Any]]] = {"SAC": None}
    for name, kwargs in SACX_ROWS.items():
        if kwargs.get("mixed_precision") and not (args.emulated_bf16 or native_bfloat16(get_device("auto"))):
            print(f"{name}: skipped, bfloat16 is emulated on this device (--emulated-bf16 times it anyway)", flush=True)
        else:
            rows[name] = kwargs
    thread_counts = args.threads or [th.get_num_threads()]
    results = []
    for threads in thread_counts:
        th.set_num_threads(threads)
        results += time_rows(rows, args)
    cpu = describe({**cpu_capabilities(), "threads": ", ".join(map(str, thread_counts))})
    print(f"\n{cpu}\n{args.steps} timed steps, median of {args.repeats} interleaved repeats")
    print(
        f"{'variant':32s} {'threads':>7s} {'steps/s':>8s} {'ms/grad step':>13s} {'ratio to SAC':>13s} {'(min-max)':>12s} "
        f"{'CPU time':>9s}"
    )
    for row in results:
        spread = f"{row['ratio_min']:.2f}-{row['ratio_max']:.2f}"
        print(
            f"{row['variant']:32s} {row['threads']:7d} {row['steps_per_second']:8.1f} {row['ms_per_gradient_step']:13.1f} "
            f"{row['ratio_to_sac']:13.3f} {spread:>12s} {row['cpu_time_ratio_to_sac']:9.3f}"
        )

    write_rows(args.results_dir / "throughput.csv", list(results[0]), results)
    plot(results, cpu, args.results_dir / "throughput.png")


def time_rows(rows: dict[str, Optional[dict[str, Any]]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """
    Time SAC and every SACX row at torch's current thread count, ``args.repeats`` times interleaved.

    :param rows: variant name -> its :func:`make_model` ``sacx_kwargs``, ``"SAC": None`` first (the ratios'
        reference).
    :param args: the parsed command line (``--repeats``, ``--warmup``, ``--steps``).
    :return: a result row per variant: medians over repeats, ratios to SAC in the same repeat, the CPU beside them.
    """
    capabilities = cpu_capabilities()
    print(describe(capabilities), flush=True)
    rates: dict[str, list[float]] = {name: [] for name in rows}
    step_ms: dict[str, list[float]] = {name: [] for name in rows}
    ratios: dict[str, list[float]] = {name: [] for name in rows}
    cpu_rates: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.repeats):
        for name, kwargs in rows.items():
            rate, cpu_rate, ms = time_learning(lambda kwargs=kwargs: make_model(kwargs, args.warmup), args.warmup, args.steps)
            rates[name].append(rate)
            cpu_rates[name].append(cpu_rate)
            step_ms[name].append(ms)
            ratios[name].append(rate / rates["SAC"][-1])
            print(f"{name:32s} {rate:7.1f} steps/s {ms:7.1f} ms/gradient step", flush=True)
    return [
        dict(
            variant=name,
            steps_per_second=round(statistics.median(rates[name]), 1),
            ms_per_gradient_step=round(statistics.median(step_ms[name]), 1),
            ratio_to_sac=round(statistics.median(ratios[name]), 3),
            ratio_min=round(min(ratios[name]), 3),
            ratio_max=round(max(ratios[name]), 3),
            cpu_time_ratio_to_sac=round(statistics.median(cpu_rates[name]) / statistics.median(cpu_rates["SAC"]), 3),
            repeats=args.repeats,
            steps=args.steps,
            **capabilities,
        )
        for name in rows
    ]


def plot(results: list[dict[str, Any]], cpu: str, path: Path) -> None:
    """
    Bars of the ratios to SAC with their spread, titled with the CPU.

    :param results: :func:`time_rows`' rows, for every thread count timed.
    :param cpu: the CPU's description, the plot's title.
    :param path: where the PNG goes.
    """
    plt = pyplot()
    ratios = [row["ratio_to_sac"] for row in results]
    spread = [
        [row["ratio_to_sac"] - row["ratio_min"] for row in results],
        [row["ratio_max"] - row["ratio_to_sac"] for row in results],
    ]
    labels = [f"{row['variant']}, {row['threads']} thread{'s' * (row['threads'] > 1)}" for row in results]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.45 * len(results)))
    ax.barh(labels, ratios, xerr=spread, capsize=3)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("env steps/s relative to SB3 SAC (same run; median and range over repeats)")
    ax.set_title(cpu, fontsize=7)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
