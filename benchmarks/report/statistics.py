"""
The report's numbers: success curves aligned over seeds and their summaries, landed seeds and Fisher's exact test on
them, time to the target, which runs the headline compares, whether the auxiliary tasks pay, and the screening of
candidate defaults.
"""

import math
from typing import Any, Optional

import numpy as np
from plan import DEFAULTS, MAIN_ONLY, METHODS

from .runs import BUDGETS, Runs, Seeds, env_name, envs_of, runs_on

# SPEC section 7: the first evaluation at which the median over seeds reaches this success rate
TARGET = 0.9
# The auxiliaries pay clearly where SACX's defaults' median is above the main-task-only one's by this much
CLEARLY_BETTER = 0.3
# Candidate defaults (the plan's methods outside the headline) are screened on the cheap envs before they are run on
# the continuous lander: on MountainCar the median over seeds must reach TARGET by this many steps (as SACX's defaults
# do), on the Discrete lander it must not fall below the defaults' median by more than SCREEN_TOLERANCE at any
# evaluation both reached
CANDIDATES = tuple(run for run, method in METHODS.items() if method.headline is None)
SCREEN_ENVS = ("mountaincar", "discrete")
SCREEN_FIRST_AT = {"mountaincar": 15_000}
SCREEN_TOLERANCE = 0.05


def aligned(seeds: Seeds, key: str) -> tuple[np.ndarray, np.ndarray]:
    """
    The steps every seed reached, and ``[n_seeds, n_steps]`` values of ``key`` there.

    :param seeds: a run's rows by seed, as :func:`report.runs.load_runs` gives them.
    :param key: the CSV column to read.
    """
    n_points = min(len(rows) for rows in seeds.values())
    steps = np.array([int(row["steps"]) for row in next(iter(seeds.values()))[:n_points]])
    return steps, np.array([[row[key] for row in rows[:n_points]] for _, rows in sorted(seeds.items())])


def summarise_run(seeds: Seeds) -> dict[str, Any]:
    """
    Success of one run over its seeds: the median curve, its spread, where it first reached :data:`TARGET`.

    :param seeds: a run's rows by seed, as :func:`report.runs.load_runs` gives them.
    :return: the figures of its ``summary.csv`` row, and the ``curve_*`` arrays: the steps all seeds reached
        and the median, min and max success there.
    """
    # Seeds may have reached different step counts: the summary is where all did
    steps, success = aligned(seeds, "success_rate")
    median = np.median(success, axis=0)
    reached = steps[median >= TARGET]
    minutes_per_100k = None
    if has_wall_times(seeds):
        minutes_per_100k = round(float(np.median(aligned(seeds, "wall_time_s")[1][:, -1]) / steps[-1] * 100_000 / 60), 1)
    return dict(
        steps=int(steps[-1]),
        seeds=len(seeds),
        landed=landed_seeds(seeds),
        train_hours_to_0_9=hours_to_target(seeds),
        cpu=cpus_of(seeds),
        success_median=float(median[-1]),
        success_min=float(success[:, -1].min()),
        success_max=float(success[:, -1].max()),
        median_first_at_0_9=int(reached[0]) if len(reached) else None,
        best_median=float(median.max()),
        best_median_at=int(steps[median.argmax()]),
        train_minutes_per_100k=minutes_per_100k,
        curve_steps=steps,
        curve_median=median,
        curve_min=success.min(axis=0),
        curve_max=success.max(axis=0),
    )


def landed_seeds(seeds: Seeds) -> int:
    """
    SPEC section 7's landed seeds: how many of a run's seeds reached :data:`TARGET` at some evaluation.

    :param seeds: a run's rows by seed, as :func:`report.runs.load_runs` gives them.
    """
    return sum(any(row["success_rate"] >= TARGET for row in rows) for rows in seeds.values())


def fisher_exact_greater(landed_a: int, seeds_a: int, landed_b: int, seeds_b: int) -> float:
    """
    One-sided Fisher's exact test on landed seeds: the probability, were both methods alike, that the first lands on
    ``landed_a`` seeds or more of its ``seeds_a``, given ``landed_a + landed_b`` landed seeds among all (the upper tail
    of the hypergeometric distribution). Small: evidence that the first lands more often than the second.

    :param landed_a: the first method's landed seeds.
    :param seeds_a: its seeds.
    :param landed_b: the second method's landed seeds.
    :param seeds_b: its seeds.
    :return: the p-value, in (0, 1].
    """
    landed, seeds = landed_a + landed_b, seeds_a + seeds_b
    tail = range(landed_a, min(landed, seeds_a) + 1)
    return sum(math.comb(landed, k) * math.comb(seeds - landed, seeds_a - k) for k in tail) / math.comb(seeds, seeds_a)


def hours_to_target(seeds: Seeds) -> Optional[float]:
    """
    SPEC section 7's time to a landing agent, per run: the median over seeds of the training time (hours, evaluations
    excluded) to a seed's first evaluation at :data:`TARGET` or more, a seed that never got there counting as last;
    None where the median seed never got there or a run has no times.

    :param seeds: a run's rows by seed, as :func:`report.runs.load_runs` gives them.
    """
    if not has_wall_times(seeds):
        return None
    times = [next((row["wall_time_s"] for row in rows if row["success_rate"] >= TARGET), np.inf) for rows in seeds.values()]
    median = float(np.median(times))
    return round(median / 3600, 2) if np.isfinite(median) else None


def has_wall_times(seeds: Seeds) -> bool:
    """
    Whether every seed of a run recorded its training time.

    :param seeds: a run's rows by seed, as :func:`report.runs.load_runs` gives them.
    """
    return all("wall_time_s" in rows[0] for rows in seeds.values())


def cpus_of(seeds: Seeds) -> str:
    """
    The CPUs a run's timings were measured on (model and vector extensions), as its rows record them.

    :param seeds: a run's rows by seed, as :func:`report.runs.load_runs` gives them.
    """
    cpus = sorted({str(row["cpu"]).split("; torch")[0] for rows in seeds.values() for row in rows if row.get("cpu")})
    return " / ".join(cpus) or "not recorded"


def headline_runs(runs: Runs, env: str) -> list[tuple[str, str, Seeds]]:
    """
    ``(method, run, seeds)`` of the headline comparison on ``env`` (the plan's methods with a ``headline`` name), for
    the methods that have a run there, with the run's :func:`headline_seeds`: of the plan's run of a method and its
    ``earlier_runs``, the one measured furthest (the steps all those seeds reached, then their number), the plan's run
    on a tie, so that it replaces an older measurement once it has caught up with it.

    :param runs: every run's rows, as :func:`report.runs.load_runs` gives them.
    :param env: an env's results folder (``continuous``, ``discrete``, ``mountaincar``, ...).
    """
    chosen = []
    for run_name, method in METHODS.items():
        if method.headline is None:
            continue
        candidates = (run_name, *method.earlier_runs)
        measured = [(run, headline_seeds(runs[(env, run)], env)) for run in candidates if (env, run) in runs]
        if measured:
            chosen.append((method.headline, *max(measured, key=lambda run_seeds: measured_extent(run_seeds[1]))))
    return chosen


def headline_seeds(seeds: Seeds, env: str) -> Seeds:
    """
    The seeds of a run that reached ``env``'s budget (:data:`report.runs.BUDGETS`), or all of them where none did or the
    env has no budget: a seed in progress would otherwise cut its finished seeds' comparison short at the steps it has
    reached.

    :param seeds: a run's rows by seed, as :func:`report.runs.load_runs` gives them.
    :param env: the run's env folder.
    """
    budget = BUDGETS.get(env)
    finished = {seed: rows for seed, rows in seeds.items() if budget is not None and int(rows[-1]["steps"]) >= budget}
    return finished or seeds


def measured_extent(seeds: Seeds) -> tuple[int, int]:
    """
    The steps every seed of a run reached, and its number of seeds.

    :param seeds: a run's rows by seed, as :func:`report.runs.load_runs` gives them.
    """
    return int(aligned(seeds, "steps")[0][-1]), len(seeds)


def summary_rows(runs: Runs) -> list[dict[str, Any]]:
    """
    One row per run (``benchmarks/results/summary.csv``), envs in :func:`report.runs.envs_of`'s order.

    :param runs: every run's rows, as :func:`report.runs.load_runs` gives them.
    """
    rows = []
    for env in envs_of(runs):
        for run, seeds in runs_on(runs, env):
            summary = {key: value for key, value in summarise_run(seeds).items() if not key.startswith("curve_")}
            rows.append(dict(method=run, env=env_name(env), **summary))
    return rows


def headline_rows(runs: Runs) -> list[dict[str, Any]]:
    """
    One row per env and headline method.

    :param runs: every run's rows, as :func:`report.runs.load_runs` gives them.
    """
    return [
        dict(env=env_name(env), method=method, run=run, **summarise_run(seeds))
        for env in envs_of(runs)
        for method, run, seeds in headline_runs(runs, env)
    ]


def median_difference(seeds: Seeds, reference: Seeds) -> tuple[dict[str, Any], dict[str, Any], np.ndarray, np.ndarray]:
    """
    Two runs over the seeds both have: their summaries, the evaluations both reached and the first's median success
    there minus the second's (SPEC section 7 compares methods on the same seeds).

    :param seeds: the first run's rows by seed, as :func:`report.runs.load_runs` gives them.
    :param reference: the second run's.
    :return: :func:`summarise_run` of each over the shared seeds, the steps, the differences.
    """
    shared = sorted(set(seeds) & set(reference))
    first, second = (summarise_run({seed: of[seed] for seed in shared}) for of in (seeds, reference))
    steps, mine, theirs = np.intersect1d(first["curve_steps"], second["curve_steps"], return_indices=True)
    return first, second, steps, first["curve_median"][mine] - second["curve_median"][theirs]


def auxiliaries_pay(runs: Runs, env: str) -> Optional[dict[str, Any]]:
    """
    The difference of median success, SACX's defaults minus its main-task-only ablation (the headline's runs), over
    the seeds both runs measured (SPEC section 7: the same seeds for every method; the headline may hold more seeds of
    one), at the evaluations both reached: its worst and best, whether it is never negative, and where it first reaches
    :data:`CLEARLY_BETTER`. None where the env lacks either run or they share no seed.

    :param runs: every run's rows, as :func:`report.runs.load_runs` gives them.
    :param env: an env's results folder (``continuous``, ``discrete``, ``mountaincar``, ...).
    """
    chosen = {method: (run, seeds) for method, run, seeds in headline_runs(runs, env)}
    defaults, main_only = METHODS[DEFAULTS].headline, METHODS[MAIN_ONLY].headline
    if defaults not in chosen or main_only not in chosen:
        return None
    (defaults_run, with_aux_seeds), (main_only_run, main_only_seeds) = chosen[defaults], chosen[main_only]
    shared = sorted(set(with_aux_seeds) & set(main_only_seeds))
    if not shared:
        return None
    with_aux, without, steps, difference = median_difference(with_aux_seeds, main_only_seeds)
    if not len(steps):
        return None
    clearly = steps[difference >= CLEARLY_BETTER - 1e-9]
    landed = (with_aux["landed"], without["landed"])
    return dict(
        env=env_name(env),
        runs=(defaults_run, main_only_run),
        seeds=shared,
        evaluations=len(steps),
        worst=float(difference.min()),
        worst_at=int(steps[difference.argmin()]),
        best=float(difference.max()),
        best_at=int(steps[difference.argmax()]),
        never_worse=bool((difference >= -1e-9).all()),
        clearly_better_at=int(clearly[0]) if len(clearly) else None,
        landed=landed,
        p_defaults_land_more=fisher_exact_greater(landed[0], len(shared), landed[1], len(shared)),
        p_defaults_land_less=fisher_exact_greater(landed[1], len(shared), landed[0], len(shared)),
    )


def pays_rows(runs: Runs) -> list[dict[str, Any]]:
    """
    One :func:`auxiliaries_pay` row per env that has one, envs in :func:`report.runs.envs_of`'s order.

    :param runs: every run's rows, as :func:`report.runs.load_runs` gives them.
    """
    return [row for row in (auxiliaries_pay(runs, env) for env in envs_of(runs)) if row is not None]


def screening_rows(runs: Runs, env: str) -> list[dict[str, Any]]:
    """
    Every candidate default (:data:`CANDIDATES`) on a cheap env (:data:`SCREEN_ENVS`) against SACX's defaults, over the
    finished seeds both have: landed seeds, the median's first evaluation at :data:`TARGET`, its worst difference to
    the defaults' median, the one-sided Fisher p that the defaults land more often, and whether it is kept
    (:data:`SCREEN_FIRST_AT`, :data:`SCREEN_TOLERANCE`).

    :param runs: every run's rows, as :func:`report.runs.load_runs` gives them.
    :param env: an env's results folder.
    """
    defaults = runs.get((env, DEFAULTS))
    if env not in SCREEN_ENVS or defaults is None:
        return []
    defaults = headline_seeds(defaults, env)
    rows = []
    for run in CANDIDATES:
        if (env, run) not in runs:
            continue
        seeds = headline_seeds(runs[(env, run)], env)
        shared = sorted(set(seeds) & set(defaults))
        if not shared:
            continue
        candidate, reference, steps, difference = median_difference(seeds, defaults)
        first_at = candidate["median_first_at_0_9"]
        kept = bool((difference >= -SCREEN_TOLERANCE - 1e-9).all())
        if env in SCREEN_FIRST_AT:
            kept = first_at is not None and first_at <= SCREEN_FIRST_AT[env]
        rows.append(
            dict(
                run=run,
                seeds=shared,
                landed=candidate["landed"],
                first_at=first_at,
                median=candidate["success_median"],
                worst=float(difference.min()),
                worst_at=int(steps[difference.argmin()]),
                p_defaults_land_more=fisher_exact_greater(reference["landed"], len(shared), candidate["landed"], len(shared)),
                kept=kept,
                finished=len(shared) == len(seeds) and candidate["steps"] >= BUDGETS.get(env, 0),
            )
        )
    return rows
