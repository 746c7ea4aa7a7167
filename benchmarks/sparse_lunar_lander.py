"""
Learning benchmark on the sparse LunarLander and the sparse MountainCar (SPEC section 7): SACX against SB3 SAC (Box) or
DQN (Discrete), trained on the same sparse reward with the same budget and seeds. Every ``--eval-every`` steps the
deterministic main head (and, for SACX, each auxiliary head on fewer episodes) is evaluated on fixed-seed episodes that
training never sees, and a row is appended to ``benchmarks/results/<env>/<run>/seed<k>.csv``. ``--env`` is
``continuous`` (``SparseLunarLanderContinuous-v0``), ``discrete`` (``SparseLunarLander-v0``) or ``mountaincar``
(``SparseMountainCarContinuous-v0``); the budget (``--steps``), the evaluation period (``--eval-every``), the auxiliary
tasks, the env's SACX settings and the baseline's rl-zoo3 settings default per env (``common.ENVS``).

SPEC section 7's comparison, the same run names on every env: SACX's defaults, SACX with the main task only, and the
baseline (``sac`` on Box actions, ``dqn`` on Discrete), e.g. on MountainCar (50k steps, an evaluation every 5k):

    OMP_NUM_THREADS=1 python benchmarks/sparse_lunar_lander.py --env mountaincar --seed 0 --algo sacx --variant sacx-defaults
    OMP_NUM_THREADS=1 python benchmarks/sparse_lunar_lander.py --env mountaincar --seed 0 --algo sacx \\
        --variant sacx-main-only --no-aux
    OMP_NUM_THREADS=1 python benchmarks/sparse_lunar_lander.py --env mountaincar --seed 0 --algo sac

Runs are resumable and cannot lose a result: after each evaluation the model (scheduler included), its replay buffer
and the evaluation's row are checkpointed under ``--checkpoint-dir`` (written whole, then renamed into place:
``sb3_sacx.checkpoints``), and only then is the row appended to the CSV (also written whole and renamed), so a run
killed at any moment resumes from its last complete checkpoint with every row once. Running the same command again
continues from there; it refuses a checkpoint written for other arguments (env, seed, algorithm, settings), and a CSV
with rows beyond its checkpoint (the checkpoint lost with the machine that trained it, say) unless ``--restart`` is
given, which starts the run again from 0 in place of those rows. ``--max-evals`` bounds how many steps one invocation
trains (in evaluation periods), so a long run can span sessions:

    OMP_NUM_THREADS=1 python benchmarks/sparse_lunar_lander.py --algo sacx --env continuous --seed 0
    OMP_NUM_THREADS=1 python benchmarks/sparse_lunar_lander.py --algo sac --env continuous --seed 0
    OMP_NUM_THREADS=1 python benchmarks/sparse_lunar_lander.py --algo sacx --env continuous --seed 0 \\
        --variant sac-q --sacx-kwargs '{"scheduler": "sac-q"}'

``--extra-task`` (LunarLander only) adds an auxiliary task to the five of SPEC §3, e.g. ``land_on_pad`` (SPEC §8's open
idea of an intention that leads to the sparse event):

    OMP_NUM_THREADS=1 python benchmarks/sparse_lunar_lander.py --algo sacx --env discrete --seed 0 \\
        --variant sacx-land-on-pad --extra-task land_on_pad

``--branch-from`` copies another SACX run as it stands (same env and seed) and continues it with a changed scheduler or
snippet sampling, to ask what that setting does from a given point of a run, e.g. once the auxiliary heads land:

    OMP_NUM_THREADS=1 python benchmarks/sparse_lunar_lander.py --algo sacx --env continuous --seed 1 --steps 125000
    OMP_NUM_THREADS=1 python benchmarks/sparse_lunar_lander.py --algo sacx --env continuous --seed 1 --steps 175000 \\
        --variant sacx-branch125k-sac-q --branch-from sacx --sacx-kwargs '{"scheduler": "sac-q"}'

``benchmarks/plot_results.py`` turns the CSVs into the README's table and plots.
"""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

import gymnasium as gym
import numpy as np
from common import (
    DQN_EXPLORATION_STEPS,
    ENVS,
    append_row,
    csv_steps,
    evaluate,
    make_env,
    parse_run_args,
    read_rows,
    rounded,
    run_checkpoint,
    run_csv,
)
from stable_baselines3 import DQN, SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_sacx import SACX
from sb3_sacx.checkpoints import MODEL_FILE, REPLAY_BUFFER_FILE, checkpoint_record, restore_checkpoint, save_checkpoint
from sb3_sacx.checks import check_number
from sb3_sacx.hardware import cpu_capabilities, describe
from sb3_sacx.schedulers import make_scheduler


def build_model(args: argparse.Namespace, train_env: gym.Env) -> BaseAlgorithm:
    """
    A new model for the run: SACX with the env's settings under ``--sacx-kwargs``, or the env's baseline with
    rl-zoo3's settings.

    :param args: The parsed command line.
    :param train_env: The env it trains on.
    """
    setting = ENVS[args.env]
    if args.algo == "sacx":
        return SACX("MlpPolicy", train_env, seed=args.seed, **{**setting.sacx_kwargs, **args.sacx_kwargs})
    kwargs = dict(setting.baseline_kwargs)
    if args.algo == "dqn":
        # SB3 measures the exploration fraction against each learn() call; runs learn in chunks of --eval-every steps,
        # so epsilon reaches its final value DQN_EXPLORATION_STEPS into the first chunk. A later chunk, from step n,
        # starts half-way or further through its own progress (n / (n + eval_every) >= 1/2), past this fraction.
        kwargs["exploration_fraction"] = DQN_EXPLORATION_STEPS / args.eval_every
    return {"sac": SAC, "dqn": DQN}[args.algo]("MlpPolicy", train_env, seed=args.seed, **kwargs)


def sacx_diagnostics(model: SACX, args: argparse.Namespace) -> dict[str, Any]:
    """
    Per-task training returns, temperatures, scheduler probabilities and the success of every auxiliary head.

    :param model: The SACX model being trained.
    :param args: The parsed command line (``--env``, ``--head-episodes``).
    """
    row: dict[str, Any] = {}
    returns = model.task_returns
    train_returns = returns.mean(axis=0) if len(returns) else np.full(model.n_tasks, np.nan)
    ent_coefs = model.ent_coefs.cpu().numpy()
    for name, train_return, ent_coef, probability in zip(
        model.task_names, train_returns, ent_coefs, model.scheduler.probabilities()
    ):
        row[f"train_return_{name}"] = train_return
        row[f"ent_coef_{name}"] = ent_coef
        row[f"p_{name}"] = probability
    aux_names = model.task_names[1:]
    for name in aux_names:
        row[f"head_success_{name}"] = evaluate(model, args.env, aux_names, args.head_episodes, task=name)["success_rate"]
    return row


def run_name(args: argparse.Namespace) -> str:
    """
    The run's name: ``--variant``, else ``--algo``.

    :param args: The parsed command line.
    """
    return args.variant or args.algo


def run_identity(args: argparse.Namespace) -> dict[str, Any]:
    """
    What makes a run this run, kept with its checkpoint: resuming with anything else would mix two runs in one CSV.

    :param args: The parsed command line.
    """
    keys = ("algo", "env", "seed", "no_aux", "extra_task", "sacx_kwargs", "branch_from")
    return {"run": run_name(args), **{key: getattr(args, key) for key in keys}}


class RunConflict(SystemExit):
    """A checkpoint or CSV that this run must not continue (exit status 2, as for a bad argument)."""

    def __init__(self, message: str) -> None:
        print(f"error: {message}", file=sys.stderr)
        super().__init__(2)


def check_resumable(args: argparse.Namespace, record: dict[str, Any], checkpoint: Path) -> None:
    """
    Refuse a checkpoint written for another run (another env, seed, algorithm or settings).

    :param args: The parsed command line.
    :param record: The checkpoint's record.
    :param checkpoint: Its directory, for the message.
    """
    identity = json.loads(json.dumps(run_identity(args)))  # as JSON keeps it (lists, not tuples)
    stored = record.get("identity", {})
    differences = [
        f"{key} {stored.get(key)!r} there, {value!r} here" for key, value in identity.items() if stored.get(key) != value
    ]
    if differences:
        raise RunConflict(
            f"the checkpoint {checkpoint} belongs to another run ({'; '.join(differences)}). Resume it with its own "
            "arguments, or move it away to start this run."
        )


def reconcile_csv(args: argparse.Namespace, csv_path: Path, record: Optional[dict[str, Any]]) -> bool:
    """
    Make the CSV agree with the checkpoint before training goes on: append the checkpoint's row if a stop came between
    the checkpoint and its row; refuse rows beyond the checkpoint (they would be measured twice, or lost), unless
    ``--restart`` replaces them.

    :param args: The parsed command line.
    :param csv_path: The run's CSV.
    :param record: The checkpoint's record; None where there is no checkpoint.
    :return: whether to resume from the checkpoint (False: train from 0).
    """
    at_steps = csv_steps(csv_path)
    checkpoint_at = 0 if record is None else record["num_timesteps"]
    if at_steps > checkpoint_at:
        if not args.restart:
            where = "no checkpoint" if record is None else f"its checkpoint is at {checkpoint_at} steps"
            raise RunConflict(
                f"{csv_path} has rows up to {at_steps} steps but {where}: continuing would lose or repeat them. "
                "Restore the checkpoint, or pass --restart to run again from 0 in place of those rows."
            )
        print(f"--restart: replacing the {len(read_rows(csv_path)[1])} rows of {csv_path} (up to {at_steps} steps)")
        csv_path.unlink()
        return False
    if record is not None and at_steps < checkpoint_at:
        append_row(csv_path, record["row"])
    return record is not None


def main() -> None:
    args = parse_run_args(description=__doc__)
    name = run_name(args)
    csv_path = run_csv(args.results_dir, args.env, name, args.seed)
    checkpoint = run_checkpoint(args.checkpoint_dir, args.env, name, args.seed)
    task_names = [] if args.no_aux else [*ENVS[args.env].tasks, *args.extra_task]
    train_env = make_env(args.env, task_names)
    algo_class = {"sacx": SACX, "sac": SAC, "dqn": DQN}[args.algo]
    record = restore_checkpoint(checkpoint)
    if args.branch_from and record is None:
        record = branch(args, checkpoint, csv_path)
    if record is not None:
        check_resumable(args, record, checkpoint)
    if reconcile_csv(args, csv_path, record):
        model = algo_class.load(checkpoint / MODEL_FILE, env=train_env)
        model.load_replay_buffer(checkpoint / REPLAY_BUFFER_FILE)
        wall_time = float(record["row"]["wall_time_s"])
        print(f"resuming {name} seed {args.seed} at {model.num_timesteps} steps")
    else:
        model, wall_time = build_model(args, train_env), 0.0
    # The machine beside its timings: the CPUs of this project's machines differ
    cpu = describe(cpu_capabilities())
    evaluations = 0
    while model.num_timesteps < args.steps and (args.max_evals is None or evaluations < args.max_evals):
        next_eval = min((model.num_timesteps // args.eval_every + 1) * args.eval_every, args.steps)
        started = time.perf_counter()
        model.learn(next_eval - model.num_timesteps, reset_num_timesteps=False, log_interval=None)
        wall_time += time.perf_counter() - started
        evaluations += 1
        row: dict[str, Any] = dict(
            algo=args.algo, variant=name, env=args.env, seed=args.seed, steps=model.num_timesteps, wall_time_s=wall_time
        )
        started = time.perf_counter()
        row.update(evaluate(model, args.env, task_names, args.eval_episodes))
        if isinstance(model, SACX) and args.head_episodes > 0:
            row.update(sacx_diagnostics(model, args))
        row["eval_time_s"] = time.perf_counter() - started
        row["cpu"] = cpu
        row = rounded(row)
        # The checkpoint first, with its row: a stop before the CSV has it is mended by reconcile_csv on resuming
        save_checkpoint(model, checkpoint, {"identity": run_identity(args), "row": row})
        append_row(csv_path, row)
        print(
            f"{name} seed {args.seed} {model.num_timesteps:>7d} steps: success {row['success_rate']:.2f}, "
            f"train {wall_time / 60:.1f} min",
            flush=True,
        )


def branch(args: argparse.Namespace, checkpoint: Path, csv_path: Path) -> dict[str, Any]:
    """
    Make this run a copy of run ``--branch-from`` as it is now (model, replay buffer, CSV rows), with the
    ``--sacx-kwargs`` settings changed: what that run would have done from here with another scheduler, say.

    :param args: The parsed command line (``--branch-from``, ``--sacx-kwargs``).
    :param checkpoint: This run's checkpoint folder.
    :param csv_path: This run's CSV.
    :return: the record of this run's first checkpoint.
    """
    source_checkpoint = run_checkpoint(args.checkpoint_dir, args.env, args.branch_from, args.seed)
    if restore_checkpoint(source_checkpoint) is None:
        raise RunConflict(f"--branch-from {args.branch_from}: no checkpoint in {source_checkpoint}")
    changes = args.sacx_kwargs
    model = SACX.load(source_checkpoint / MODEL_FILE, device="cpu")
    model.load_replay_buffer(source_checkpoint / REPLAY_BUFFER_FILE)
    if "scheduler" in changes:
        model.scheduler_kwargs = changes.get("scheduler_kwargs")
        model.scheduler = make_scheduler(changes["scheduler"], model.n_tasks, args.seed, model.scheduler_kwargs)
    if "rewarded_snippet_fraction" in changes:
        # Set on the loaded model, so checked here as SACX's constructor would
        check_number("rewarded_snippet_fraction", changes["rewarded_snippet_fraction"], minimum=0.0, maximum=1.0)
        model.rewarded_snippet_fraction = changes["rewarded_snippet_fraction"]
    _, source_rows = read_rows(run_csv(args.results_dir, args.env, args.branch_from, args.seed))
    rows = [{**row, "variant": run_name(args)} for row in source_rows if int(row["steps"]) <= model.num_timesteps]
    for row in rows[:-1]:
        append_row(csv_path, row)
    save_checkpoint(model, checkpoint, {"identity": run_identity(args), "row": rows[-1]})
    print(f"{run_name(args)} seed {args.seed} branches from {args.branch_from} at {model.num_timesteps} steps")
    return checkpoint_record(checkpoint)


if __name__ == "__main__":
    main()
