"""
SB3's own identity test (``tests/test_identity.py::test_continuous``: ``IdentityEnvBox(eps=0.5)``, ``gamma=0.95``,
``learning_rate=1e-3``, ``net_arch=[64, 64]``, 400 steps, then 20 evaluation episodes against a threshold of 90) with
SACX in SAC's place and one trivial auxiliary task, for SACX's defaults and the settings that change its targets (the
last one is the scale that ``main_reward_scale="auto"`` takes for a sparse reward, 1/(1-gamma), forced on this dense one):

    OMP_NUM_THREADS=1 python benchmarks/dense_identity.py

A dense, bandit-like reward: the later steps' rewards do not depend on the current action, so multi-step Retrace
targets add only their noise. Prints the mean evaluation reward per setting and seed and writes
``benchmarks/results/dense_identity.csv`` and ``.png``.
"""

import argparse
from pathlib import Path
from typing import Any

from common import RESULTS, pyplot, write_rows
from stable_baselines3.common.envs import IdentityEnvBox
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_sacx import SACX, AuxRewardWrapper

# SB3's test passes at this mean reward (SAC reaches it in the test's 400 steps)
THRESHOLD = 90.0
SETTINGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "retrace_steps=1": dict(retrace_steps=1),
    "retrace_lambda=0": dict(retrace_lambda=0.0),
    "main_reward_scale=20": dict(main_reward_scale=20.0),
}


def zero(obs: Any, action: Any, next_obs: Any, info: dict[str, Any]) -> float:
    """
    The trivial auxiliary task: reward 0 at every step.

    :param obs: observation before the step (unused).
    :param action: action taken (unused).
    :param next_obs: observation after the step (unused).
    :param info: the step's ``info`` (unused).
    """
    return 0.0


def mean_reward(setting: dict[str, Any], seed: int, steps: int) -> float:
    """
    Train SACX with ``setting`` as SB3's identity test trains SAC (one trivial auxiliary task added), and
    evaluate it as the test does.

    :param setting: SACX keyword arguments on top of the test's (a value of ``SETTINGS``).
    :param seed: the model's seed.
    :param steps: training steps.
    :return: the mean reward of 20 deterministic evaluation episodes.
    """
    env = AuxRewardWrapper(IdentityEnvBox(eps=0.5), {"zero": zero})
    kwargs = dict(policy_kwargs=dict(net_arch=[64, 64]), seed=seed, gamma=0.95, learning_rate=1e-3)
    model = SACX("MlpPolicy", env, **kwargs, **setting).learn(steps)
    mean, _ = evaluate_policy(model, env, n_eval_episodes=20, warn=False)
    return float(mean)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--steps", type=int, default=400, help="training steps (SB3's test: 400)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = [
        dict(setting=name, seed=seed, steps=args.steps, mean_reward=round(mean_reward(setting, seed, args.steps), 1))
        for name, setting in SETTINGS.items()
        for seed in args.seeds
    ]
    print(f"{'setting':24s} " + " ".join(f"seed {seed:>3d}" for seed in args.seeds) + f"   (SB3's threshold {THRESHOLD:g})")
    for name in SETTINGS:
        print(f"{name:24s} " + " ".join(f"{row['mean_reward']:8.1f}" for row in rows if row["setting"] == name))

    write_rows(args.results_dir / "dense_identity.csv", list(rows[0]), rows)
    plot(rows, args.results_dir / "dense_identity.png")


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """
    Each seed's mean reward per setting, with SB3's threshold.

    :param rows: one row per setting and seed, as written to ``dense_identity.csv``.
    :param path: where the PNG goes.
    """
    fig, ax = pyplot().subplots(figsize=(7, 3))
    names = list(SETTINGS)
    for row in rows:
        ax.scatter(row["mean_reward"], names.index(row["setting"]), color="black")
    ax.axvline(THRESHOLD, color="red", lw=0.8, label="SB3's threshold")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(f"mean evaluation reward after {rows[0]['steps']} steps (one dot per seed)")
    ax.invert_yaxis()
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
