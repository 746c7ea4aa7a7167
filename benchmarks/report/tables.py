"""The report's tables, each rendered by :func:`table` as Markdown (the README) or reST (the docs' pages)."""

from collections.abc import Sequence
from typing import Any, Literal, Optional

from .runs import Runs, runs_on
from .statistics import CLEARLY_BETTER, TARGET, headline_rows, headline_runs, pays_rows, summarise_run

#: The markup a table is written in.
Format = Literal["markdown", "rst"]
# Inline code: one backquote in Markdown, two in reST
CODE_DELIMITERS: dict[str, str] = {"markdown": "`", "rst": "``"}

SUCCESS_HEADER = ("seeds", f"landed (≥ {TARGET})", "steps", "success (median)", "min to max", f"median ≥ {TARGET} first at")
HEADLINE_HEADER = ("env", "method", "run", *SUCCESS_HEADER)
PAYS_HEADER = (
    "env",
    "runs",
    "seeds",
    "evaluations",
    "defaults minus main only: worst (at)",
    "best (at)",
    "never worse",
    f"better by ≥ {CLEARLY_BETTER}",
    "landed seeds",
    "Fisher p: defaults land more / less",
)
SCREEN_HEADER = (
    "run", "seeds", f"landed (≥ {TARGET})", f"median ≥ {TARGET} first at", "median at last", "vs defaults: worst (at)",
    "Fisher p: defaults land more", "kept",
)  # fmt: skip
SUMMARY_HEADER = (
    "run", "env", *SUCCESS_HEADER, "best median (at)", "train min / 100k steps", f"train hours to ≥ {TARGET}", "CPU"
)  # fmt: skip


def table(header: Sequence[str], rows: Sequence[Sequence[str]], fmt: Format) -> str:
    """
    A table with one header row: a Markdown table, or a reST ``list-table``.

    :param header: the column titles.
    :param rows: each row's cells.
    :param fmt: the markup.
    """
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        lines = [".. list-table::", "   :header-rows: 1", ""]
        for row in (header, *rows):
            lines.append(f"   * - {row[0]}")
            lines += [f"     - {cell}" for cell in row[1:]]
    return "\n".join(lines) + "\n"


def code(text: str, fmt: Format) -> str:
    """
    ``text`` as inline code.

    :param text: a run's or an env's name, say.
    :param fmt: the markup.
    """
    return f"{CODE_DELIMITERS[fmt]}{text}{CODE_DELIMITERS[fmt]}"


def steps_label(steps: Optional[int]) -> str:
    """
    Steps in thousands where that is within 1 % (SAC's MountainCar chunks of 32 steps end at 50016 for 50k).

    :param steps: env steps, or None where a target was not reached.
    :return: ``<n>k`` where that is within 1 % (``50k`` for 50016), else the steps as a number; ``not reached`` for None.
    """
    if steps is None:
        return "not reached"
    thousands = round(steps / 1000)
    return f"{thousands}k" if thousands and abs(steps - 1000 * thousands) <= 0.01 * steps else str(steps)


def spread(low: float, high: float) -> str:
    """
    A range to two decimals, as the tables write min to max.

    :param low: the minimum.
    :param high: the maximum.
    """
    return f"{low:.2f} to {high:.2f}"


def optional(value: Optional[float]) -> str:
    """
    A figure that a run may lack, "—" where it does.

    :param value: the figure, or None.
    """
    return "—" if value is None else str(value)


def success_cells(row: dict[str, Any]) -> list[str]:
    """
    The cells under :data:`SUCCESS_HEADER` of a :func:`report.statistics.summarise_run` row.

    :param row: a row with :func:`report.statistics.summarise_run`'s figures.
    """
    return [
        str(row["seeds"]),
        str(row["landed"]),
        steps_label(row["steps"]),
        f"{row['success_median']:.2f}",
        spread(row["success_min"], row["success_max"]),
        steps_label(row["median_first_at_0_9"]),
    ]


def headline_table(runs: Runs, fmt: Format) -> str:
    """
    The headline comparison: one row per env and headline method (:func:`report.statistics.headline_rows`).

    :param runs: every run's rows, as :func:`report.runs.load_runs` gives them.
    :param fmt: the markup.
    """
    rows = [[code(row["env"], fmt), row["method"], code(row["run"], fmt), *success_cells(row)] for row in headline_rows(runs)]
    return table(HEADLINE_HEADER, rows, fmt)


def pays_table(runs: Runs, fmt: Format) -> str:
    """
    Per env, whether the auxiliaries pay (:func:`report.statistics.auxiliaries_pay`).

    :param runs: every run's rows, as :func:`report.runs.load_runs` gives them.
    :param fmt: the markup.
    """
    rows = [
        [
            code(row["env"], fmt),
            " vs ".join(code(run, fmt) for run in row["runs"]),
            ", ".join(map(str, row["seeds"])),
            str(row["evaluations"]),
            f"{row['worst']:+.2f} ({steps_label(row['worst_at'])})",
            f"{row['best']:+.2f} ({steps_label(row['best_at'])})",
            "yes" if row["never_worse"] else "no",
            f"yes, from {steps_label(row['clearly_better_at'])}" if row["clearly_better_at"] is not None else "no",
            f"{row['landed'][0]} / {row['landed'][1]} of {len(row['seeds'])}",
            f"{row['p_defaults_land_more']:.2f} / {row['p_defaults_land_less']:.2f}",
        ]
        for row in pays_rows(runs)
    ]
    return table(PAYS_HEADER, rows, fmt)


def screening_table(rows: list[dict[str, Any]], fmt: Format) -> str:
    """
    One env's candidate defaults against SACX's defaults.

    :param rows: :func:`report.statistics.screening_rows`' rows.
    :param fmt: the markup.
    """
    cells = [
        [
            code(row["run"], fmt),
            ", ".join(map(str, row["seeds"])),
            str(row["landed"]),
            steps_label(row["first_at"]),
            f"{row['median']:.2f}",
            f"{row['worst']:+.2f} ({steps_label(row['worst_at'])})",
            f"{row['p_defaults_land_more']:.2f}",
            ("yes" if row["kept"] else "no") + ("" if row["finished"] else " (so far)"),
        ]
        for row in rows
    ]
    return table(SCREEN_HEADER, cells, fmt)


def summary_table(rows: list[dict[str, Any]], fmt: Format) -> str:
    """
    One row per run, with its training time and CPU.

    :param rows: :func:`report.statistics.summary_rows`' rows.
    :param fmt: the markup.
    """
    cells = [
        [
            code(row["method"], fmt),
            code(row["env"], fmt),
            *success_cells(row),
            f"{row['best_median']:.2f} ({steps_label(row['best_median_at'])})",
            optional(row["train_minutes_per_100k"]),
            optional(row["train_hours_to_0_9"]),
            row["cpu"],
        ]
        for row in rows
    ]
    return table(SUMMARY_HEADER, cells, fmt)


def rerun_rows(runs: Runs, env: str, before: str, after: str) -> list[list[str]]:
    """
    A header and ``[steps, "before → after" per seed]`` rows at every evaluation where some seed has both runs' success
    ("—" for a seed without); empty where the env lacks either run or they share no seed.

    :param runs: every run's rows, as :func:`report.runs.load_runs` gives them.
    :param env: an env's results folder (``continuous``, ``discrete``, ``mountaincar``, ...).
    :param before: the earlier run.
    :param after: the run that measured the same method again (a re-run).
    """
    old_seeds, new_seeds = (runs.get((env, run), {}) for run in (before, after))
    # seed -> (success by step before, success by step after)
    curves = {
        seed: tuple({int(row["steps"]): row["success_rate"] for row in run[seed]} for run in (old_seeds, new_seeds))
        for seed in sorted(set(old_seeds) & set(new_seeds))
    }
    steps = sorted({step for old, new in curves.values() for step in old.keys() & new.keys()})
    rows = [
        [
            steps_label(step),
            *(f"{old[step]:.2f} → {new[step]:.2f}" if step in old and step in new else "—" for old, new in curves.values()),
        ]
        for step in steps
    ]
    return [["steps", *(f"seed {seed}" for seed in curves)], *rows] if rows else []


def evaluations_table(runs: Runs, env: str, fmt: Format) -> Optional[str]:
    """
    The headline runs' median success over seeds (min to max) at each evaluation, at the steps all of a run's seeds
    reached, in **bold** where the median reaches the target; None where ``env`` has no headline run.

    :param runs: every run's rows, as :func:`report.runs.load_runs` gives them.
    :param env: an env's results folder.
    :param fmt: the markup.
    """
    headline = [(method, run, summarise_run(seeds)) for method, run, seeds in headline_runs(runs, env)]
    if not headline:
        return None
    # One row per evaluation label: SAC's MountainCar evaluations at 5024, 10016, ... share the others' 5k, 10k, ...
    all_steps = sorted({int(step) for _, _, summary in headline for step in summary["curve_steps"]})
    rows = []
    for label in dict.fromkeys(steps_label(step) for step in all_steps):
        row = [label]
        for _, _, summary in headline:
            where = [i for i, step in enumerate(summary["curve_steps"]) if steps_label(int(step)) == label]
            row.append(evaluation_cell(summary, where[0]) if where else "")
        rows.append(row)
    header = ["steps"] + [f"{method} ({code(run, fmt)}, {summary['seeds']} seeds)" for method, run, summary in headline]
    return table(header, rows, fmt)


def evaluation_cell(summary: dict[str, Any], index: int) -> str:
    """
    A run's median success at one evaluation, **bold** at the target or above, and its spread over seeds.

    :param summary: the run's :func:`report.statistics.summarise_run`.
    :param index: the evaluation's index in its ``curve_*`` arrays.
    """
    median = f"{summary['curve_median'][index]:.2f}"
    if summary["curve_median"][index] >= TARGET:
        median = f"**{median}**"
    return f"{median} ({spread(summary['curve_min'][index], summary['curve_max'][index])})"


def seeds_table(runs: Runs, env: str, fmt: Format) -> str:
    """
    The success rate of every run and seed on ``env`` at each evaluation.

    :param runs: every run's rows, as :func:`report.runs.load_runs` gives them.
    :param env: an env's results folder.
    :param fmt: the markup.
    """
    cells = [
        [
            code(run, fmt),
            str(seed),
            steps_label(int(rows[-1]["steps"])),
            ", ".join(f"{row['success_rate']:.2f}" for row in rows),
        ]
        for run, seeds in runs_on(runs, env)
        for seed, rows in sorted(seeds.items())
    ]
    return table(("run", "seed", "last evaluation", "success at each evaluation"), cells, fmt)
