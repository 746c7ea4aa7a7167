"""
Turn the learning benchmark's CSVs (``benchmarks/results/<env>/<run>/seed<k>.csv``, written by
``benchmarks/sparse_lunar_lander.py``) into the README's table and plots:

    python benchmarks/plot_results.py

Writes ``benchmarks/results/summary.csv``, ``success_<env>.png`` (success rate of the deterministic main head against
env steps for SACX and its baseline: median over seeds, the band spans min to max, dotted lines are single seeds),
``success_<env>_variants.png`` (the same for every other run, e.g. ablations, against SACX's defaults) and
``aux_returns_<env>.png`` (SACX's and the baseline's mean auxiliary returns per task in the main head's evaluation
episodes), and prints the tables in Markdown.
"""

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
# Runs named after an algorithm are the comparison SPEC section 7 asks for; any other name is a variant or ablation
ALGORITHMS = ("sacx", "sac", "dqn")
# SACX's defaults look the same in every plot
RUN_COLORS = {"sacx": "black"}
ENV_NAMES = {"continuous": "SparseLunarLanderContinuous-v0", "discrete": "SparseLunarLander-v0"}


def load_runs() -> dict[tuple[str, str], dict[int, list[dict[str, Any]]]]:
    """``{(env, run): {seed: rows}}`` with numeric values parsed."""
    runs: dict[tuple[str, str], dict[int, list[dict[str, Any]]]] = defaultdict(dict)
    for path in sorted(RESULTS.glob("*/*/seed*.csv")):
        with open(path) as file:
            rows = [{key: parse(value) for key, value in row.items()} for row in csv.DictReader(file)]
        if rows:
            runs[(path.parent.parent.name, path.parent.name)][int(path.stem[4:])] = rows
    return runs


def parse(value: str) -> Any:
    try:
        return float(value)
    except ValueError:
        return value


def summarise(runs: dict[tuple[str, str], dict[int, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """One row per run at the largest step count that all of its seeds reached."""
    table = []
    for (env, run), seeds in sorted(runs.items()):
        # Seeds may have reached different step counts: the row is at the last one all reached (the curves' last column)
        steps, success_curves = aligned(seeds, "success_rate")
        success = success_curves[:, -1]
        minutes_per_100k = np.median(aligned(seeds, "wall_time_s")[1][:, -1]) / steps[-1] * 100_000 / 60
        # SPEC's target: the median over seeds of the success rate reaches 0.9
        median_curve = np.median(success_curves, axis=0)
        median_at_0_9 = steps[median_curve >= 0.9]
        table.append(
            dict(
                method=run,
                env=ENV_NAMES.get(env, env),
                steps=int(steps[-1]),
                seeds=len(seeds),
                success_median=float(np.median(success)),
                success_min=float(success.min()),
                success_max=float(success.max()),
                median_first_at_0_9=int(median_at_0_9[0]) if len(median_at_0_9) else None,
                best_median=float(median_curve.max()),
                best_median_at=int(steps[median_curve.argmax()]),
                train_minutes_per_100k=round(float(minutes_per_100k), 1),
            )
        )
    return table


def plot(runs: dict[tuple[str, str], dict[int, list[dict[str, Any]]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for env in sorted({env for env, _ in runs}):
        env_runs = [(run, seeds) for (run_env, run), seeds in sorted(runs.items()) if run_env == env]
        baselines = [(run, seeds) for run, seeds in env_runs if run in ALGORITHMS]
        variants = [(run, seeds) for run, seeds in env_runs if run not in ALGORITHMS]
        save_success_plot(baselines, ENV_NAMES[env], RESULTS / f"success_{env}.png")
        if variants:
            # Against the defaults, in a plot of their own so that the comparison with the baseline stays legible
            reference = [(run, seeds) for run, seeds in baselines if run == "sacx"]
            save_success_plot(
                reference + variants, f"{ENV_NAMES[env]}: variants and ablations", RESULTS / f"success_{env}_variants.png"
            )

        first_rows = [next(iter(seeds.values()))[0] for _, seeds in baselines]
        aux_keys = sorted({key for row in first_rows for key in row if key.startswith("eval_aux")})
        fig, axes = plt.subplots(1, len(aux_keys), figsize=(3 * len(aux_keys), 3), squeeze=False)
        for ax, key in zip(axes[0], aux_keys):
            for run, seeds in baselines:
                if key in next(iter(seeds.values()))[0]:
                    steps, values = aligned(seeds, key)
                    ax.plot(steps, np.median(values, axis=0), color=RUN_COLORS.get(run), marker=".", label=run)
            ax.set(title=key.removeprefix("eval_aux_return_"), xlabel="env steps")
        axes[0][0].set_ylabel("mean episode return")
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(RESULTS / f"aux_returns_{env}.png", dpi=100)
        plt.close(fig)


def save_success_plot(runs: list[tuple[str, dict[int, list[dict[str, Any]]]]], title: str, path: Path) -> None:
    """Success rate against env steps: median over seeds, a band from min to max, and each seed dotted."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    for run, seeds in runs:
        # Seeds may have reached different step counts: the median and band where all did, each seed beyond
        steps, success = aligned(seeds, "success_rate")
        line = ax.plot(
            steps,
            np.median(success, axis=0),
            color=RUN_COLORS.get(run),
            label=f"{run} ({len(seeds)} seed{'s' * (len(seeds) > 1)})",
        )
        ax.fill_between(steps, success.min(axis=0), success.max(axis=0), color=line[0].get_color(), alpha=0.2)
        for rows in seeds.values():
            ax.plot(
                [row["steps"] for row in rows],
                [row["success_rate"] for row in rows],
                color=line[0].get_color(),
                lw=0.7,
                ls=":",
            )
    ax.set(xlabel="env steps", ylabel="success rate (deterministic main head)", ylim=(-0.02, 1.02), title=title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")  # beside the curves, not over them
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def aligned(seeds: dict[int, list[dict[str, Any]]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """The steps every seed reached, and ``[n_seeds, n_steps]`` values of ``key`` there."""
    n_points = min(len(rows) for rows in seeds.values())
    steps = np.array([row["steps"] for row in next(iter(seeds.values()))[:n_points]])
    return steps, np.array([[row[key] for row in rows[:n_points]] for rows in seeds.values()])


def main() -> None:
    runs = load_runs()
    table = summarise(runs)
    with open(RESULTS / "summary.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    print(
        "| method | env | steps | seeds | success (median) | range | median >= 0.9 first at | best median (at) "
        "| train min / 100k steps |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in table:
        print(
            f"| {row['method']} | {row['env']} | {row['steps']} | {row['seeds']} | {row['success_median']:.2f} | "
            f"{row['success_min']:.2f} to {row['success_max']:.2f} | {row['median_first_at_0_9'] or '—'} | "
            f"{row['best_median']:.2f} ({row['best_median_at']}) | {row['train_minutes_per_100k']} |"
        )
    print("\n| method | env | seed | success rate at 25k, 50k, ... steps |")
    print("|---|---|---|---|")
    for (env, run), seeds in sorted(runs.items()):
        for seed, rows in sorted(seeds.items()):
            curve = ", ".join(f"{row['success_rate']:.2f}" for row in rows)
            print(f"| {run} | {ENV_NAMES.get(env, env)} | {seed} | {curve} |")
    plot(runs)


if __name__ == "__main__":
    main()
