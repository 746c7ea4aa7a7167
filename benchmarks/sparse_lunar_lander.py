"""
Learning benchmark on the sparse LunarLander and the sparse MountainCar (SPEC section 7): SACX against SB3 SAC (Box) or
DQN (Discrete), trained on the same sparse reward with the same budget and seeds. Every ``--eval-every`` steps the
deterministic main head (and, for SACX, each auxiliary head on fewer episodes) is evaluated on fixed-seed episodes that
training never sees, and a row is appended to ``benchmarks/results/<env>/<run>/seed<k>.csv``. ``--env`` is
``continuous`` (``SparseLunarLanderContinuous-v0``), ``discrete`` (``SparseLunarLander-v0``) or ``mountaincar``
(``SparseMountainCarContinuous-v0``); the budget (``--steps``), the evaluation period (``--eval-every``), the auxiliary
tasks, the env's SACX settings and the baseline's rl-zoo3 settings default per env (``ENVS``).

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
import csv
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import gymnasium as gym
import numpy as np
from stable_baselines3 import DQN, SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_sacx import SACX
from sb3_sacx.checkpoints import MODEL_FILE, REPLAY_BUFFER_FILE, checkpoint_record, restore_checkpoint, save_checkpoint
from sb3_sacx.checks import check_number
from sb3_sacx.hardware import cpu_capabilities, describe
from sb3_sacx.schedulers import make_scheduler
from sb3_sacx.tasks import LUNAR_LANDER_TASKS, MOUNTAIN_CAR_TASKS, land_on_pad
from sb3_sacx.tasks.mountain_car import ZOO_SAC_KWARGS
from sb3_sacx.wrappers import AuxTaskFn

RESULTS = Path(__file__).parent / "results"
# Evaluation seeds, disjoint from the training env's seeds (the run's seed and the few after it)
EVAL_SEED_OFFSET = 1_000_000

# What --branch-from may change in the copied run (settings that take effect from the next step on)
BRANCH_SETTINGS = ("scheduler", "scheduler_kwargs", "rewarded_snippet_fraction")
# rl-zoo3 decays DQN's exploration over the first 12% of its 100k steps; here it is set per learn() chunk (below)
DQN_EXPLORATION_STEPS = 12_000


@dataclass(frozen=True)
class BenchmarkEnv:
    """
    What a run on one env defaults to.

    :param env_id: The registered gymnasium id.
    :param tasks: The auxiliary tasks of a SACX run (and of the baseline's env, for its evaluation's auxiliary returns).
    :param steps: Default budget (``--steps``).
    :param eval_every: Default evaluation period (``--eval-every``).
    :param baseline: ``"sac"`` (Box actions) or ``"dqn"`` (Discrete).
    :param baseline_kwargs: The baseline's constructor arguments (rl-zoo3's tuned settings for the env).
    :param sacx_kwargs: SACX settings for the env, under ``--sacx-kwargs`` (which overrides them).
    :param extra_tasks: Auxiliary tasks ``--extra-task`` may add after ``tasks``.
    """

    env_id: str
    tasks: Mapping[str, AuxTaskFn]
    steps: int
    eval_every: int
    baseline: str
    baseline_kwargs: Mapping[str, Any]
    sacx_kwargs: Mapping[str, Any] = field(default_factory=dict)
    extra_tasks: Mapping[str, AuxTaskFn] = field(default_factory=dict)

    @property
    def known_tasks(self) -> dict[str, AuxTaskFn]:
        """Every auxiliary task a run on this env may name."""
        return {**self.tasks, **self.extra_tasks}


# rl-zoo3's tuned hyperparameters for the dense LunarLanderContinuous (SPEC section 8), trained on the sparse reward.
# rl-zoo3 decays the learning rate linearly over one learn() call; runs here learn in chunks, so it is constant
LUNAR_LANDER_SAC: dict[str, Any] = dict(
    learning_rate=7.3e-4,
    buffer_size=1_000_000,
    batch_size=256,
    ent_coef="auto",
    gamma=0.99,
    tau=0.01,
    train_freq=1,
    gradient_steps=1,
    learning_starts=10_000,
    policy_kwargs=dict(net_arch=[400, 300]),
)
# rl-zoo3's tuned hyperparameters for the dense LunarLander (Discrete)
LUNAR_LANDER_DQN: dict[str, Any] = dict(
    learning_rate=6.3e-4,
    batch_size=128,
    buffer_size=50_000,
    learning_starts=0,
    gamma=0.99,
    target_update_interval=250,
    train_freq=4,
    gradient_steps=-1,
    exploration_final_eps=0.1,
    policy_kwargs=dict(net_arch=[256, 256]),
)
# rl-zoo3's tuned SAC hyperparameters for MountainCarContinuous-v0 (sb3_sacx.tasks.mountain_car.ZOO_SAC_KWARGS). Their
# train_freq of 32 steps ends each learn() chunk on a multiple of 32, so this baseline's evaluations fall up to 31 steps
# after --eval-every's multiples (5024, 10016, ...), as rl-zoo3's own 50k run ends at 50016.
# Both LunarLanders: the five tasks of SPEC §3 (land_on_pad on request), 300k steps, an evaluation every 25k, and SACX's
# 10k-step uniform warm-up that LunarLander needs (SPEC §2): SACX's own default is SAC's 100
LUNAR_LANDER: dict[str, Any] = dict(
    tasks=LUNAR_LANDER_TASKS,
    steps=300_000,
    eval_every=25_000,
    sacx_kwargs=dict(learning_starts=10_000),
    extra_tasks={"land_on_pad": land_on_pad},
)

ENVS: dict[str, BenchmarkEnv] = {
    "continuous": BenchmarkEnv(
        "SparseLunarLanderContinuous-v0", baseline="sac", baseline_kwargs=LUNAR_LANDER_SAC, **LUNAR_LANDER
    ),
    "discrete": BenchmarkEnv("SparseLunarLander-v0", baseline="dqn", baseline_kwargs=LUNAR_LANDER_DQN, **LUNAR_LANDER),
    # SACX's defaults, nothing env-specific
    "mountaincar": BenchmarkEnv(
        "SparseMountainCarContinuous-v0",
        MOUNTAIN_CAR_TASKS,
        steps=50_000,
        eval_every=5_000,
        baseline="sac",
        baseline_kwargs=ZOO_SAC_KWARGS,
    ),
}
#: ``--env`` -> registered id.
ENV_IDS = {name: setting.env_id for name, setting in ENVS.items()}


def make_env(env: str, task_names: Sequence[str]) -> gym.Env:
    """
    The sparse env ``env`` (an ``ENVS`` key) with the named auxiliary tasks, in that order: the env's own (SPEC §3) for
    most runs; none for the SACX main-task-only ablation; more from its ``extra_tasks`` for ``--extra-task``.

    :param env: An ``ENVS`` key (``--env``).
    :param task_names: The auxiliary tasks, among the env's ``known_tasks``.
    """
    known = ENVS[env].known_tasks
    return gym.make(ENV_IDS[env], aux_tasks={name: known[name] for name in task_names})


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


def evaluate(
    model: BaseAlgorithm, env: str, task_names: Sequence[str], n_episodes: int, task: Optional[str] = None
) -> dict[str, Any]:
    """
    Run ``n_episodes`` fixed-seed episodes in lockstep (one batched ``predict`` per step) with a deterministic head.

    :param model: The model to evaluate.
    :param env: An ``ENVS`` key.
    :param task_names: The env's auxiliary tasks (:func:`make_env`), whose returns are reported.
    :param n_episodes: Number of episodes; episode ``i`` is seeded ``EVAL_SEED_OFFSET + i``.
    :param task: The SACX head that acts; None for the main head, or for a baseline.
    :return: success rate, mean main return, mean episode length and mean auxiliary return per task.
    """
    envs = [make_env(env, task_names) for _ in range(n_episodes)]
    observations = np.stack([e.reset(seed=EVAL_SEED_OFFSET + i)[0] for i, e in enumerate(envs)])
    active = np.ones(n_episodes, dtype=bool)
    successes, main_returns, lengths = np.zeros(n_episodes), np.zeros(n_episodes), np.zeros(n_episodes)
    aux_names = envs[0].get_wrapper_attr("aux_task_names")
    aux_returns = np.zeros((n_episodes, len(aux_names)))
    predict_kwargs = {"task": task} if task is not None else {}
    while active.any():
        indices = np.flatnonzero(active)
        actions, _ = model.predict(observations[indices], deterministic=True, **predict_kwargs)
        for index, action in zip(indices, actions):
            obs, reward, terminated, truncated, info = envs[index].step(action)
            observations[index] = obs
            main_returns[index] += reward
            aux_returns[index] += info["aux_rewards"]
            lengths[index] += 1
            if terminated or truncated:
                active[index] = False
                successes[index] = info["is_success"]
    for e in envs:
        e.close()
    result = dict(success_rate=successes.mean(), mean_main_return=main_returns.mean(), mean_length=lengths.mean())
    result.update({f"eval_aux_return_{name}": value for name, value in zip(aux_names, aux_returns.mean(axis=0))})
    return result


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


def positive_int(text: str) -> int:
    """
    An ``argparse`` type: an integer of at least 1.

    :param text: The argument as given.
    """
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """
    The command line (``argv``, default ``sys.argv``), checked, with ``--steps`` and ``--eval-every`` filled from the env's
    defaults (``ENVS``).

    :param argv: The arguments; None for the command line's.
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", choices=["sacx", "sac", "dqn"], default="sacx")
    parser.add_argument("--env", choices=list(ENVS), default="continuous")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--steps", type=positive_int, default=None, help="total env steps of the run (default: the env's, see ENVS)"
    )
    parser.add_argument("--max-evals", type=int, default=None, help="stop after this many evaluation periods")
    parser.add_argument(
        "--eval-every", type=positive_int, default=None, help="env steps between evaluations (default: the env's)"
    )
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--head-episodes", type=int, default=20, help="episodes per auxiliary head (SACX; 0: none)")
    parser.add_argument("--variant", default=None, help="run name for an ablation (default: the algorithm's name)")
    parser.add_argument(
        "--sacx-kwargs", type=json.loads, default="{}", help="JSON object of SACX keyword arguments, over the env's"
    )
    parser.add_argument("--no-aux", action="store_true", help="SACX with the main task only (ablation)")
    parser.add_argument(
        "--extra-task",
        action="append",
        default=[],
        choices=sorted({name for setting in ENVS.values() for name in setting.extra_tasks}),
        help="SACX with this auxiliary task after the env's own (LunarLander only; repeatable)",
    )
    parser.add_argument(
        "--branch-from",
        default=None,
        metavar="VARIANT",
        help="start from that SACX run's latest checkpoint (same env and seed), changing the --sacx-kwargs given "
        f"(only {', '.join(BRANCH_SETTINGS)})",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="start again from 0 where the CSV has rows beyond the checkpoint (they are replaced)",
    )
    parser.add_argument("--checkpoint-dir", type=Path, default=Path("runs/checkpoints"))
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where the CSVs go")
    args = parser.parse_args(argv)
    setting = ENVS[args.env]
    args.steps = setting.steps if args.steps is None else args.steps
    args.eval_every = setting.eval_every if args.eval_every is None else args.eval_every
    if not isinstance(args.sacx_kwargs, dict):
        parser.error(f"--sacx-kwargs must be a JSON object, got {json.dumps(args.sacx_kwargs)}")
    if args.algo not in ("sacx", setting.baseline):
        parser.error(f"--algo {args.algo} does not run on --env {args.env}: its baseline is --algo {setting.baseline}")
    if (args.no_aux or args.extra_task) and args.algo != "sacx":
        parser.error("--no-aux and --extra-task apply to --algo sacx only")
    if args.no_aux and args.extra_task:
        parser.error("--no-aux and --extra-task exclude each other")
    unknown = [name for name in args.extra_task if name not in setting.extra_tasks]
    if unknown:
        parser.error(
            f"--extra-task {', '.join(unknown)} is not a task for --env {args.env} "
            f"(there: {', '.join(setting.extra_tasks) or 'none'})"
        )
    if args.branch_from and (args.algo != "sacx" or not set(args.sacx_kwargs) <= set(BRANCH_SETTINGS)):
        parser.error(f"--branch-from needs --algo sacx and --sacx-kwargs with only {', '.join(BRANCH_SETTINGS)}")
    if args.branch_from and "scheduler_kwargs" in args.sacx_kwargs and "scheduler" not in args.sacx_kwargs:
        parser.error("--branch-from: give scheduler_kwargs together with the scheduler's name")
    if args.algo == "dqn" and args.eval_every < 2 * DQN_EXPLORATION_STEPS:
        parser.error(f"--algo dqn needs --eval-every >= {2 * DQN_EXPLORATION_STEPS} (see build_model)")
    return args


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
    rows = read_rows(csv_path)[1] if csv_path.exists() else []
    csv_steps = int(rows[-1]["steps"]) if rows else 0
    checkpoint_steps = 0 if record is None else record["num_timesteps"]
    if csv_steps > checkpoint_steps:
        if not args.restart:
            where = "no checkpoint" if record is None else f"its checkpoint is at {checkpoint_steps} steps"
            raise RunConflict(
                f"{csv_path} has rows up to {csv_steps} steps but {where}: continuing would lose or repeat them. "
                "Restore the checkpoint, or pass --restart to run again from 0 in place of those rows."
            )
        print(f"--restart: replacing the {len(rows)} rows of {csv_path} (up to {csv_steps} steps)")
        csv_path.unlink()
        return False
    if record is not None and csv_steps < checkpoint_steps:
        append_row(csv_path, record["row"])
    return record is not None


def main() -> None:
    args = parse_args()
    name = run_name(args)
    csv_path = args.results_dir / args.env / name / f"seed{args.seed}.csv"
    checkpoint = args.checkpoint_dir / args.env / name / f"seed{args.seed}"
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
    source_checkpoint = args.checkpoint_dir / args.env / args.branch_from / f"seed{args.seed}"
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
    _, source_rows = read_rows(args.results_dir / args.env / args.branch_from / f"seed{args.seed}.csv")
    rows = [{**row, "variant": run_name(args)} for row in source_rows if int(row["steps"]) <= model.num_timesteps]
    for row in rows[:-1]:
        append_row(csv_path, row)
    save_checkpoint(model, checkpoint, {"identity": run_identity(args), "row": rows[-1]})
    print(f"{run_name(args)} seed {args.seed} branches from {args.branch_from} at {model.num_timesteps} steps")
    return checkpoint_record(checkpoint)


def checkpoint_steps(checkpoint: Path) -> int:
    """
    The steps of the run's last complete checkpoint, 0 where there is none.

    :param checkpoint: The run's checkpoint folder (``<checkpoint-dir>/<env>/<run>/seed<k>``).
    """
    record = checkpoint_record(checkpoint)
    return 0 if record is None else int(record["num_timesteps"])


def rounded(row: dict[str, Any]) -> dict[str, Any]:
    """
    The row as the CSV and the checkpoint keep it: NumPy scalars as Python numbers, floats rounded to 4 decimals.

    :param row: Column -> value.
    """
    plain = {key: value.item() if isinstance(value, np.generic) else value for key, value in row.items()}
    return {key: round(value, 4) if isinstance(value, float) else value for key, value in plain.items()}


def append_row(path: Path, row: dict[str, Any]) -> None:
    """
    Add ``row`` to the CSV; a column the file lacks (a run resumed by a newer script) is added, blank before.

    :param path: The CSV, created if missing.
    :param row: Column -> value; floats are rounded to 4 decimals.
    """
    columns, rows = read_rows(path) if path.exists() else ([], [])
    columns += [key for key in row if key not in columns]
    rows.append(rounded(row))
    write_rows(path, columns, rows)


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """
    The CSV's columns and rows.

    :param path: The CSV.
    """
    with open(path) as file:
        reader = csv.DictReader(file)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def write_rows(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """
    Write the CSV whole, through a temporary file, so that an interruption never leaves half a file.

    :param path: The CSV.
    :param columns: Its columns, in order.
    :param rows: Its rows; a column a row lacks is left blank.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, path)


if __name__ == "__main__":
    main()
