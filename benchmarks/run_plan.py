"""
The learning benchmark's whole plan (SPEC section 7, ``benchmarks/plan.py``): every env, method and seed of the README's
results table, run one after another with ``benchmarks/sparse_lunar_lander.py``, resuming what an interruption left half
done and skipping what is finished. Start one lane per core; lanes share the plan, each taking the next run that no
other lane holds:

    OMP_NUM_THREADS=1 nohup python benchmarks/run_plan.py > runs/lane0.log 2>&1 &
    OMP_NUM_THREADS=1 nohup python benchmarks/run_plan.py > runs/lane1.log 2>&1 &
    python benchmarks/run_plan.py --list                      # where every run stands
    python benchmarks/run_plan.py --env mountaincar --dry-run  # what a lane would run there
    python benchmarks/run_plan.py --env discrete --run dqn     # a lane for DQN's Discrete runs only

Arguments the plan does not know go to every run (e.g. ``--eval-episodes 20``).

A run is finished when its CSV reaches the env's budget. A lane holds a run by an exclusive lock on
``<checkpoint-dir>/<env>/<run>/seed<k>.lock`` while it trains it; the lock ends with the lane's process, so a lane
killed by a session's end frees its run for the next one. Lanes take the runs in the plan's order (``plan.PLAN``).
"""

import argparse
import fcntl
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from common import CHECKPOINTS, ENVS, RESULTS, checkpoint_steps, csv_steps, parse_run_args
from plan import METHODS, PLAN, PlannedRun

BENCHMARK = Path(__file__).parent / "sparse_lunar_lander.py"


def steps_reached(planned: PlannedRun, results: Path) -> int:
    """
    The steps of the run's last evaluation, 0 before its first.

    :param planned: the run.
    :param results: the results folder (``--results-dir``).
    """
    return csv_steps(planned.csv_path(results))


def lock_path(planned: PlannedRun, checkpoints: Path) -> Path:
    """
    The file whose lock a lane holds while it trains the run, beside its checkpoint folder.

    :param planned: the run.
    :param checkpoints: the checkpoint folder (``--checkpoint-dir``).
    """
    checkpoint = planned.checkpoint_path(checkpoints)
    return checkpoint.with_name(f"{checkpoint.name}.lock")


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
    path = lock_path(planned, checkpoints)
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
