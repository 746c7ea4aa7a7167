"""
What the benchmark scripts share: the sparse envs and their settings (:data:`ENVS`), env construction and evaluation,
the command line of one learning-benchmark run (``benchmarks/sparse_lunar_lander.py``, which ``benchmarks/run_plan.py``
checks its arguments against), where a run's CSV and checkpoint are, and the CSVs' reading and writing.

The scripts import it as a module: ``python benchmarks/<script>.py`` puts ``benchmarks/`` on ``sys.path``.
"""

import argparse
import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

import gymnasium as gym
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_sacx.checkpoints import checkpoint_record
from sb3_sacx.tasks import LUNAR_LANDER_TASKS, MOUNTAIN_CAR_TASKS, land_on_pad
from sb3_sacx.tasks.mountain_car import ZOO_SAC_KWARGS
from sb3_sacx.wrappers import AuxTaskFn

RESULTS = Path(__file__).parent / "results"
# Relative to where a run starts: lanes and runs share it by starting in the same folder
CHECKPOINTS = Path("runs/checkpoints")
# Evaluation seeds, disjoint from the training env's seeds (the run's seed and the few after it)
EVAL_SEED_OFFSET = 1_000_000

# What --branch-from may change in the copied run (settings that take effect from the next step on)
BRANCH_SETTINGS = ("scheduler", "scheduler_kwargs", "rewarded_snippet_fraction")
# rl-zoo3 decays DQN's exploration over the first 12% of its 100k steps; here it is set per learn() chunk (the runner's
# build_model)
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


def positive_int(text: str) -> int:
    """
    An ``argparse`` type: an integer of at least 1.

    :param text: The argument as given.
    """
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run_parser(description: Optional[str] = None) -> argparse.ArgumentParser:
    """
    The learning benchmark's command line: one run (env, algorithm, seed, settings) and where it writes.

    :param description: The ``--help`` text above the arguments (the runner's own docstring).
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    parser.add_argument("--checkpoint-dir", type=Path, default=CHECKPOINTS)
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where the CSVs go")
    return parser


def parse_run_args(argv: Optional[Sequence[str]] = None, description: Optional[str] = None) -> argparse.Namespace:
    """
    A run's command line (``argv``, default ``sys.argv``), checked, with ``--steps`` and ``--eval-every`` filled from the
    env's defaults (``ENVS``); a bad one exits with status 2, as ``argparse`` does.

    :param argv: The arguments; None for the command line's.
    :param description: The ``--help`` text above the arguments (the runner's own docstring).
    """
    parser = run_parser(description)
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


def run_csv(results: Path, env: str, run: str, seed: int) -> Path:
    """
    A run's CSV, one row per evaluation.

    :param results: The results folder (``--results-dir``).
    :param env: An ``ENVS`` key.
    :param run: The run's name (``--variant``, else ``--algo``).
    :param seed: The run's seed.
    """
    return results / env / run / f"seed{seed}.csv"


def run_checkpoint(checkpoints: Path, env: str, run: str, seed: int) -> Path:
    """
    A run's checkpoint folder (``sb3_sacx.checkpoints``).

    :param checkpoints: The checkpoint folder (``--checkpoint-dir``).
    :param env: An ``ENVS`` key.
    :param run: The run's name (``--variant``, else ``--algo``).
    :param seed: The run's seed.
    """
    return checkpoints / env / run / f"seed{seed}"


def checkpoint_steps(checkpoint: Path) -> int:
    """
    The steps of the run's last complete checkpoint, 0 where there is none.

    :param checkpoint: The run's checkpoint folder (:func:`run_checkpoint`).
    """
    record = checkpoint_record(checkpoint)
    return 0 if record is None else int(record["num_timesteps"])


def csv_steps(path: Path) -> int:
    """
    The steps of a run's last evaluation, 0 before its first.

    :param path: The run's CSV (:func:`run_csv`), which may not exist yet.
    """
    rows = read_rows(path)[1] if path.exists() else []
    return int(rows[-1]["steps"]) if rows else 0


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

    :param path: The CSV; its folder is made if missing.
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


def pyplot() -> ModuleType:
    """
    ``matplotlib.pyplot`` on the file-only Agg backend, imported when a script draws rather than when it is imported:
    the scripts' tables need no matplotlib.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
