"""
The learning benchmark's whole plan (SPEC section 7): every env, method and seed of the README's results table, run
one after another with ``benchmarks/sparse_lunar_lander.py``, resuming what an interruption left half done and skipping
what is finished. Start one lane per core; lanes share the plan, each taking the next run that no other lane holds:

    OMP_NUM_THREADS=1 nohup python benchmarks/run_plan.py > runs/lane0.log 2>&1 &
    OMP_NUM_THREADS=1 nohup python benchmarks/run_plan.py > runs/lane1.log 2>&1 &
    python benchmarks/run_plan.py --list                      # where every run stands
    python benchmarks/run_plan.py --env mountaincar --dry-run  # what a lane would run there
    python benchmarks/run_plan.py --env discrete --run dqn     # a lane for DQN's Discrete runs only

Arguments the plan does not know go to every run (e.g. ``--eval-episodes 20``).

A run is finished when its CSV reaches the env's budget. A lane holds a run by an exclusive lock on
``<checkpoint-dir>/<env>/<run>/seed<k>.lock`` while it trains it; the lock ends with the lane's process, so a lane
killed by a session's end frees its run for the next one. The order is the order of dependence of the open work:
SACX's defaults on the continuous lander first (the learner review's re-runs), then MountainCar (cheap: five seeds of
every method), then the rest of SPEC section 7's table (the continuous lander's main-task-only ablation, the Discrete
lander, the fourth and fifth continuous seeds), and last three levers on the auxiliaries' cost on the continuous
lander: snippets around successes sampled more often (the intentions' landings reach the main critic), the floor on
the main intention's share, then ξ = 1000 (one intention acts a whole episode, so the main head flies its own episodes
from start to end).
"""

import argparse
import fcntl
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from common import CHECKPOINTS, ENVS, RESULTS, checkpoint_steps, csv_steps, parse_run_args

BENCHMARK = Path(__file__).parent / "sparse_lunar_lander.py"
# The main intention acts at least half the time (0.58 with SAC-U's share of the rest, K = 6): SPEC §8's floor
MAIN_FLOOR = '{"scheduler_kwargs": {"min_main_probability": 0.5}}'
WHOLE_EPISODES = '{"schedule_period": 1000}'
# The floor with a switch every 100 steps (public SAC-X code: P(main) = 0.5, ~8 switches an episode), so that no
# one intention flies a whole descent
MAIN_FLOOR_SHORT_PERIOD = '{"scheduler_kwargs": {"min_main_probability": 0.5}, "schedule_period": 100}'
# SAC-Q that cannot starve the main head: the floor, a temperature that starts near-uniform for 0/1 main returns and
# decays over 300 episodes, a constant-step table, a switch every 100 steps (as public SAC-X code runs its SAC-Q)
ANNEALED_SAC_Q = json.dumps(
    {
        "scheduler": "sac-q",
        "schedule_period": 100,
        "scheduler_kwargs": {
            "min_main_probability": 0.5,
            "initial_temperature": 1.0,
            "temperature": 0.1,
            "temperature_decay_episodes": 300,
            "step_size": 0.1,
        },
    }
)
# A quarter of each batch's snippets around a stored success: uniform snippets show the main critic each of the few
# landings the other intentions make about once in 600 gradient steps (256 of 150k transitions per batch)
REWARDED_SNIPPETS = '{"rewarded_snippet_fraction": 0.25}'
# SPEC section 7's three methods, and the levers tried on the auxiliaries' cost, by run name, as benchmark arguments
METHODS = {
    "sacx-defaults": ("--algo", "sacx", "--variant", "sacx-defaults"),
    "sacx-main-only": ("--algo", "sacx", "--variant", "sacx-main-only", "--no-aux"),
    "sac": ("--algo", "sac"),
    "dqn": ("--algo", "dqn"),
    "sacx-rewarded-0.25": ("--algo", "sacx", "--variant", "sacx-rewarded-0.25", "--sacx-kwargs", REWARDED_SNIPPETS),
    "sacx-main-floor-0.5": ("--algo", "sacx", "--variant", "sacx-main-floor-0.5", "--sacx-kwargs", MAIN_FLOOR),
    "sacx-xi-1000": ("--algo", "sacx", "--variant", "sacx-xi-1000", "--sacx-kwargs", WHOLE_EPISODES),
    "sacx-sac-q-annealed": ("--algo", "sacx", "--variant", "sacx-sac-q-annealed", "--sacx-kwargs", ANNEALED_SAC_Q),
    "sacx-floor-0.5-xi-100": (
        "--algo",
        "sacx",
        "--variant",
        "sacx-floor-0.5-xi-100",
        "--sacx-kwargs",
        MAIN_FLOOR_SHORT_PERIOD,
    ),
}


@dataclass(frozen=True)
class PlannedRun:
    """One seed of one method on one env: ``benchmarks/results/<env>/<run>/seed<seed>.csv``."""

    env: str
    run: str
    seed: int

    @property
    def arguments(self) -> tuple[str, ...]:
        return ("--env", self.env, "--seed", str(self.seed), *METHODS[self.run])

    def csv_path(self, results: Path) -> Path:
        """
        The run's CSV.

        :param results: the results folder (``--results-dir``).
        """
        return results / self.env / self.run / f"seed{self.seed}.csv"

    def checkpoint_path(self, checkpoints: Path) -> Path:
        """
        The run's checkpoint folder.

        :param checkpoints: the checkpoint folder (``--checkpoint-dir``).
        """
        return checkpoints / self.env / self.run / f"seed{self.seed}"

    def lock_path(self, checkpoints: Path) -> Path:
        """
        The file whose lock a lane holds while it trains the run.

        :param checkpoints: the checkpoint folder (``--checkpoint-dir``).
        """
        return checkpoints / self.env / self.run / f"seed{self.seed}.lock"

    def __str__(self) -> str:
        return f"{self.env} {self.run} seed {self.seed}"


def stage(env: str, runs: Sequence[str], seeds: Sequence[int]) -> list[PlannedRun]:
    """
    ``runs`` on ``env``, interleaved by seed (every method's seed 0, then every method's seed 1, ...).

    :param env: an ``ENVS`` key.
    :param runs: run names (``METHODS`` keys).
    :param seeds: the seeds to run.
    """
    return [PlannedRun(env, run, seed) for seed in seeds for run in runs]


PLAN: tuple[PlannedRun, ...] = (
    *stage("continuous", ["sacx-defaults"], range(3)),
    *stage("mountaincar", ["sacx-defaults", "sacx-main-only", "sac"], range(5)),
    *stage("continuous", ["sacx-main-only", "sac"], range(3)),
    *stage("discrete", ["sacx-defaults", "sacx-main-only", "dqn"], range(3)),
    *stage("continuous", ["sacx-defaults", "sacx-main-only"], range(3, 5)),
    # Issue 35's stage 1: candidate defaults screened on the cheap envs before any spends lander runs
    *stage("mountaincar", ["sacx-floor-0.5-xi-100", "sacx-main-floor-0.5"], range(5)),
    *stage("mountaincar", ["sacx-sac-q-annealed"], range(5)),
    *stage("discrete", ["sacx-floor-0.5-xi-100", "sacx-main-floor-0.5", "sacx-sac-q-annealed"], range(3)),
    *stage("continuous", ["sacx-rewarded-0.25"], range(3)),
    *stage("continuous", ["sacx-main-floor-0.5"], range(3)),
    *stage("continuous", ["sacx-xi-1000"], range(3)),
)


def steps_reached(planned: PlannedRun, results: Path) -> int:
    """
    The steps of the run's last evaluation, 0 before its first.

    :param planned: the run.
    :param results: the results folder (``--results-dir``).
    """
    return csv_steps(planned.csv_path(results))


def is_finished(planned: PlannedRun, results: Path) -> bool:
    """
    Whether the run's CSV has reached its env's budget.

    :param planned: the run.
    :param results: the results folder (``--results-dir``).
    """
    return steps_reached(planned, results) >= ENVS[planned.env].steps


def rows_beyond_checkpoint(planned: PlannedRun, results: Path, checkpoints: Path) -> bool:
    """
    Whether the run's CSV has rows its checkpoint has not reached (the checkpoint lost, or another run's): starting it
    would replace them or measure them twice, so a lane leaves it alone (``--restart`` on the benchmark replaces them).

    :param planned: the run.
    :param results: the results folder (``--results-dir``).
    :param checkpoints: the checkpoint folder (``--checkpoint-dir``).
    """
    return steps_reached(planned, results) > checkpoint_steps(planned.checkpoint_path(checkpoints))


@contextmanager
def held(planned: PlannedRun, checkpoints: Path) -> Iterator[bool]:
    """
    Try to hold ``planned`` for this process: yields whether it did (False: another lane holds it).

    :param planned: the run to hold.
    :param checkpoints: the checkpoint folder (``--checkpoint-dir``), where the locks are.
    """
    path = planned.lock_path(checkpoints)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def status(planned: PlannedRun, results: Path, checkpoints: Path) -> str:
    """
    Where a run stands, for ``--list``: finished, at how many steps or not started, and whether a lane holds it.

    :param planned: the run.
    :param results: the results folder (``--results-dir``).
    :param checkpoints: the checkpoint folder (``--checkpoint-dir``), where the locks are.
    """
    steps = steps_reached(planned, results)
    if steps >= ENVS[planned.env].steps:
        return "finished"
    with held(planned, checkpoints) as free:
        running = "" if free else ", running"
    orphaned = ", rows beyond its checkpoint: not resumed" if rows_beyond_checkpoint(planned, results, checkpoints) else ""
    return (f"at {steps} steps" if steps else "not started") + running + orphaned


def run_lane(
    plan: Sequence[PlannedRun], results: Path, checkpoints: Path, extra: Sequence[str] = (), dry_run: bool = False
) -> list[PlannedRun]:
    """
    Train every unfinished run of ``plan`` that no other lane holds, in order, each to its budget; a run another lane
    finished meanwhile is skipped, and so is one whose CSV has rows beyond its checkpoint (reported: it is not started,
    so those rows are neither replaced nor measured twice). A failed run is reported and the lane goes on.

    :param plan: the runs, in the order to train them.
    :param results: the results folder (``--results-dir``).
    :param checkpoints: the checkpoint folder (``--checkpoint-dir``), where the locks are.
    :param extra: arguments passed on to every run.
    :param dry_run: print the commands without running them.
    :return: the runs this lane trained (or, with ``dry_run``, would train).
    """
    trained = []
    for planned in plan:
        if is_finished(planned, results):
            continue
        with held(planned, checkpoints) as mine:
            if not mine or is_finished(planned, results):
                continue
            if rows_beyond_checkpoint(planned, results, checkpoints):
                print(f"=== SKIPPED: {planned}: its CSV has rows beyond its checkpoint (see --list)", flush=True)
                continue
            command = [
                sys.executable, str(BENCHMARK), *planned.arguments,
                "--results-dir", str(results), "--checkpoint-dir", str(checkpoints), *extra,
            ]  # fmt: skip
            print(f"=== {planned}: {' '.join(command)}", flush=True)
            trained.append(planned)
            if not dry_run and subprocess.run(command, check=False).returncode != 0:
                print(f"=== FAILED: {planned}", flush=True)
    return trained


def main(argv: Optional[Sequence[str]] = None) -> None:
    """
    Run one lane of the plan, or with ``--list`` say where every planned run stands.

    :param argv: command-line arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="say where every planned run stands, and stop")
    parser.add_argument("--dry-run", action="store_true", help="print the commands a lane would run, run none")
    parser.add_argument("--env", choices=list(ENVS), action="append", help="only the runs on this env (repeatable)")
    parser.add_argument("--run", choices=list(METHODS), action="append", help="only this method's runs (repeatable)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--checkpoint-dir", type=Path, default=CHECKPOINTS)
    args, extra = parser.parse_known_args(argv)
    plan = [
        planned
        for planned in PLAN
        if (args.env is None or planned.env in args.env) and (args.run is None or planned.run in args.run)
    ]
    # Arguments for the benchmark itself (e.g. --eval-episodes), checked once here rather than failing every run
    for planned in plan:
        parse_run_args([*planned.arguments, *extra])
    if args.list:
        for planned in plan:
            where = status(planned, args.results_dir, args.checkpoint_dir)
            print(f"{planned.env:<12} {planned.run:<20} seed {planned.seed}  {where}")
        return
    trained = run_lane(plan, args.results_dir, args.checkpoint_dir, extra, dry_run=args.dry_run)
    print(f"=== lane done: {len(trained)} runs" + (" (dry run)" if args.dry_run else ""), flush=True)


if __name__ == "__main__":
    main()
