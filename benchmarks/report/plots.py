"""The report's plots: per env, the headline runs' success, every other run's against SACX's defaults, and the
headline runs' auxiliary returns."""

from pathlib import Path

import numpy as np
from common import pyplot
from plan import DEFAULTS, METHODS

from .runs import Runs, Seeds, env_name, envs_of, runs_on
from .statistics import aligned, headline_runs

# SACX's defaults, in the plan's run and the earlier ones, look the same in every plot
DEFAULTS_RUNS = (DEFAULTS, *METHODS[DEFAULTS].earlier_runs)
RUN_COLORS = dict.fromkeys(DEFAULTS_RUNS, "black")


def plot(runs: Runs, results: Path) -> None:
    """
    Write every env's plots: the headline runs' success, every other run's against SACX's defaults and the
    headline runs' auxiliary returns (the last two where there is something to plot).

    :param runs: every run's rows, as :func:`report.runs.load_runs` gives them.
    :param results: the folder the PNGs go to.
    """
    for env in envs_of(runs):
        # The headline runs' finished seeds, against every other run of the env
        baselines = [(run, seeds) for _, run, seeds in headline_runs(runs, env)]
        chosen = {run for run, _ in baselines}
        variants = [(run, seeds) for run, seeds in runs_on(runs, env) if run not in chosen]
        save_success_plot(baselines, env_name(env), results / f"success_{env}.png")
        if variants:
            # Against the defaults, in a plot of their own so that the comparison with the baseline stays legible
            reference = [(run, seeds) for run, seeds in baselines if run in DEFAULTS_RUNS]
            save_success_plot(
                reference + variants, f"{env_name(env)}: variants and ablations", results / f"success_{env}_variants.png"
            )
        save_aux_returns_plot(baselines, results / f"aux_returns_{env}.png")


def save_success_plot(runs: list[tuple[str, Seeds]], title: str, path: Path) -> None:
    """
    Success rate against env steps: median over seeds, a band from min to max, and each seed dotted.

    :param runs: ``(run, seeds)`` pairs, one curve each, ``seeds`` as in :func:`report.runs.load_runs`.
    :param title: the plot's title.
    :param path: where the PNG goes.
    """
    plt = pyplot()
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


def save_aux_returns_plot(runs: list[tuple[str, Seeds]], path: Path) -> None:
    """
    Per auxiliary task, the runs' median over seeds of its mean return in the main head's evaluation episodes; no plot
    where the runs recorded none.

    :param runs: ``(run, seeds)`` pairs, one curve each per task, ``seeds`` as in :func:`report.runs.load_runs`.
    :param path: where the PNG goes.
    """
    first_rows = [next(iter(seeds.values()))[0] for _, seeds in runs]
    aux_keys = sorted({key for row in first_rows for key in row if key.startswith("eval_aux")})
    if not aux_keys:
        return
    plt = pyplot()
    fig, axes = plt.subplots(1, len(aux_keys), figsize=(3 * len(aux_keys), 3), squeeze=False)
    for ax, key in zip(axes[0], aux_keys):
        for run, seeds in runs:
            if all(key in rows[0] for rows in seeds.values()):
                steps, values = aligned(seeds, key)
                ax.plot(steps, np.median(values, axis=0), color=RUN_COLORS.get(run), marker=".", label=run)
        ax.set(title=key.removeprefix("eval_aux_return_"), xlabel="env steps")
    axes[0][0].set_ylabel("mean episode return")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
