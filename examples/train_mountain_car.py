"""
SAC-X's point in minutes: on ``SparseMountainCarContinuous-v0`` (reward 1 at the flag, 0 on every other step) SACX's
auxiliary intentions (move fast, climb either hill, go far up the left one) find the flag, and its main head learns to
reach it; SB3's SAC, with rl-zoo3's tuned settings for MountainCar, trained on the same reward and budget, does not.

    python examples/train_mountain_car.py                # SACX, then SB3 SAC, 20k steps each
    python examples/train_mountain_car.py --no-sac       # SACX only
    python examples/train_mountain_car.py --timesteps 30000 --seed 1

Every ``--eval-freq`` steps each method's deterministic policy (SACX's main head) is evaluated on the same
``--eval-episodes`` episodes that training never sees (as the learning benchmark does), and the success rate is
printed. The SACX model is saved to ``--save-path`` (written whole, then renamed into place: a stop leaves no half
file), loaded back with ``SACX.load`` and checked with SB3's ``evaluate_policy`` on as many further unseen episodes, and
both learning curves go to ``--plot``. The last line says when each first reached the flag in >= 0.9 of the
episodes.
"""

import argparse
import textwrap
import time
from pathlib import Path
from typing import Optional

from fixed_episodes import FixedEpisodesEvalCallback, fixed_episodes_env, success_rate
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from sb3_sacx import SACX
from sb3_sacx.checkpoints import save_model
from sb3_sacx.hardware import cpu_capabilities, describe
from sb3_sacx.tasks import SPARSE_MOUNTAIN_CAR_ID
from sb3_sacx.tasks.mountain_car import ZOO_SAC_KWARGS

# Seeds of the episodes on which the saved model is checked: neither training's nor the evaluations'
FURTHER_SEED = 2_000_000
# A method solves the task when its policy reaches the flag in this fraction of the evaluation episodes (SPEC section 7)
SOLVED = 0.9


class LearningCurve(BaseCallback):
    """
    Run after each evaluation: record and print the success rate, and the training time so far.

    :param name: the method's name, for the printed lines.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.started = time.perf_counter()
        #: (steps, success rate, minutes of training) at each evaluation
        self.points: list[tuple[int, float, float]] = []

    def _on_step(self) -> bool:
        success = float(self.parent.last_mean_reward)  # the sparse return is 1 at the flag: its mean is the success
        minutes = (time.perf_counter() - self.started) / 60
        self.points.append((self.num_timesteps, success, minutes))
        print(f"{self.name}: {self.num_timesteps:>6d} steps, {minutes:5.1f} min: success {success:.2f}", flush=True)
        return True

    def first_solved(self) -> Optional[tuple[int, float, float]]:
        """The first evaluation at or above ``SOLVED``, None if there was none."""
        return next((point for point in self.points if point[1] >= SOLVED), None)


def train(name: str, model: BaseAlgorithm, args: argparse.Namespace) -> LearningCurve:
    """
    Train ``model`` for ``--timesteps`` steps with SB3's progress bar, evaluating every ``--eval-freq`` steps.

    :param name: the method's name.
    :param model: the model, untrained.
    :param args: the command line.
    """
    curve = LearningCurve(name)
    evaluation = FixedEpisodesEvalCallback(
        fixed_episodes_env(SPARSE_MOUNTAIN_CAR_ID, args.eval_episodes),
        eval_freq=args.eval_freq,
        callback_after_eval=curve,
        verbose=0,
    )
    print(f"training {name} on {SPARSE_MOUNTAIN_CAR_ID} for {args.timesteps} steps")
    model.learn(args.timesteps, callback=evaluation, progress_bar=not args.no_progress_bar)
    return curve


def summary(curve: LearningCurve) -> str:
    """
    When the method first reached the flag in >= ``SOLVED`` of the episodes, or that it did not.

    :param curve: the method's learning curve.
    """
    solved = curve.first_solved()
    if solved is None:
        last = curve.points[-1][1] if curve.points else 0.0
        return f"{curve.name}: not within {curve.points[-1][0] if curve.points else 0} steps (last success {last:.2f})"
    steps, _, minutes = solved
    return f"{curve.name} first reached the flag in >= {SOLVED} of the episodes at {steps} steps, after {minutes:.1f} min"


def plot(curves: list[LearningCurve], path: Path, title: str) -> None:
    """
    Success rate against steps, one line per method.

    :param curves: the methods' learning curves.
    :param path: where the PNG goes.
    :param title: the plot's title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for curve in curves:
        ax.plot([p[0] for p in curve.points], [p[1] for p in curve.points], marker="o", label=curve.name)
    ax.axhline(SOLVED, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("env steps")
    ax.set_ylabel("success rate (deterministic policy)")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(title, fontsize=8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    """
    The command line.

    :param argv: the arguments; None for ``sys.argv``'s.
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=20_000)
    parser.add_argument("--eval-freq", type=int, default=5_000)
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-sac", action="store_true", help="train SACX only, without the SB3 SAC comparison")
    parser.add_argument("--save-path", type=Path, default=Path("sacx_mountain_car.zip"))
    parser.add_argument("--plot", type=Path, default=Path("mountain_car.png"))
    parser.add_argument("--no-progress-bar", action="store_true")
    args = parser.parse_args(argv)
    for name in ("timesteps", "eval_freq", "eval_episodes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    return args


def main(argv: Optional[list[str]] = None) -> None:
    """
    Train SACX (and SB3 SAC), save the SACX model, plot both curves and say which solved the task.

    :param argv: the arguments; None for ``sys.argv``'s.
    """
    args = parse_args(argv)
    cpu = describe(cpu_capabilities())
    print(f"CPU: {cpu}")
    sacx = SACX("MlpPolicy", SPARSE_MOUNTAIN_CAR_ID, seed=args.seed)
    curves = [train("SACX", sacx, args)]
    saved = save_model(sacx, args.save_path)
    # The saved file as a user gets it back, on episodes neither training nor the evaluations above have seen
    reloaded = success_rate(SACX.load(saved), SPARSE_MOUNTAIN_CAR_ID, args.eval_episodes, first_seed=FURTHER_SEED)
    print(
        f"SACX model saved to {saved.resolve()}; loaded again, success {reloaded:.2f} on {args.eval_episodes} further episodes"
    )
    if not args.no_sac:
        sac = SAC("MlpPolicy", SPARSE_MOUNTAIN_CAR_ID, seed=args.seed, **ZOO_SAC_KWARGS)
        curves.append(train("SB3 SAC (rl-zoo3)", sac, args))
    plot(curves, args.plot, f"{SPARSE_MOUNTAIN_CAR_ID}, seed {args.seed}\n{textwrap.fill(cpu, 100)}")
    print(f"learning curves plotted in {args.plot.resolve()}")
    print("; ".join(summary(curve) for curve in curves))


if __name__ == "__main__":
    main()
