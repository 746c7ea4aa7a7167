"""
Train SACX on the sparse LunarLander: reward 1 for a successful landing, 0 otherwise.

    python examples/train_lunar_lander.py                   # SparseLunarLanderContinuous-v0, 300k steps
    python examples/train_lunar_lander.py --discrete        # SparseLunarLander-v0
    python examples/train_lunar_lander.py --timesteps 50000 --seed 1

Every ``--eval-freq`` steps the deterministic main head is evaluated as the learning benchmark evaluates it (SPEC
section 7): on the same ``--eval-episodes`` episodes each time, episode ``i`` seeded ``1_000_000 + i`` (seeds that
training never sees), run side by side in one vectorised env. The script prints the success rate and the training time
so far, and says when the main head first lands (success >= 0.9). After each evaluation it checkpoints the model
(scheduler included), the replay buffer and the time spent under ``--checkpoint-dir``: run the same command again after
an interruption and it resumes from there. The final model is saved to ``--save-path``.
"""

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv

from sb3_sacx import SACX
from sb3_sacx.hardware import cpu_capabilities, describe

# Seed of the first evaluation episode, far from those of the training episodes (the benchmark's EVAL_SEED_OFFSET)
EVAL_SEED = 1_000_000
# The main head lands when it succeeds in this fraction of the evaluation episodes (SPEC section 7)
LANDED = 0.9


class FixedEpisodesEvalCallback(EvalCallback):
    """
    An ``EvalCallback`` that evaluates on the same episodes every time: its eval env has one env per episode, and
    before each evaluation env ``i`` is seeded ``EVAL_SEED + i``. A plain ``EvalCallback`` seeds its env once, so each
    evaluation would see other episodes and part of the change between two evaluations would be the episodes' own.

    :param eval_env: one env per evaluation episode (``make_vec_env(env_id, n_envs=n_eval_episodes)``).
    :param kwargs: ``EvalCallback``'s other arguments; ``n_eval_episodes`` is the eval env's number of envs.
    """

    def __init__(self, eval_env: VecEnv, **kwargs: Any) -> None:
        super().__init__(eval_env, n_eval_episodes=eval_env.num_envs, **kwargs)

    def _on_step(self) -> bool:
        if self.eval_freq > 0 and self.n_calls % self.eval_freq == 0:
            # VecEnv.seed applies at the next reset, which evaluate_policy does first
            self.eval_env.seed(EVAL_SEED)
        return super()._on_step()


class ResumableProgress(BaseCallback):
    """
    Run after each of ``EvalCallback``'s evaluations: report the success rate and the training time, and checkpoint
    the model, its replay buffer and that time, so that an interrupted run resumes where it stopped.

    :param checkpoint_dir: where the checkpoint goes.
    :param cpu: the CPU that trains (:func:`sb3_sacx.hardware.describe`), recorded beside the training time.
    :param trained_seconds: training time of the earlier invocations of this run.
    """

    def __init__(self, checkpoint_dir: Path, cpu: str, trained_seconds: float = 0.0) -> None:
        super().__init__()
        self.checkpoint_dir = checkpoint_dir
        self.cpu = cpu
        self.trained_seconds = trained_seconds
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return self.trained_seconds + time.perf_counter() - self.started

    def _on_step(self) -> bool:
        success = self.parent.last_mean_reward  # the sparse reward is 1 for a landing: the mean return is the success
        minutes = self.elapsed() / 60
        print(f"{self.num_timesteps:>7d} steps, {minutes:6.1f} min: main head success {success:.2f}", flush=True)
        progress = load_progress(self.checkpoint_dir)
        if success >= LANDED and progress.get("landed_at_step") is None:
            progress.update(landed_at_step=self.num_timesteps, landed_after_minutes=round(minutes, 1))
            print(f"landed: success {success:.2f} >= {LANDED} after {self.num_timesteps} steps and {minutes:.1f} min")
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        self.model.save(self.checkpoint_dir / "model.zip")
        self.model.save_replay_buffer(self.checkpoint_dir / "replay_buffer.pkl")
        # The CPU beside the time: the time to a landing agent depends on it (SPEC section 7)
        progress.update(steps=self.num_timesteps, trained_seconds=self.elapsed(), cpu=self.cpu)
        (self.checkpoint_dir / "progress.json").write_text(json.dumps(progress, indent=2))
        return True


def load_progress(checkpoint_dir: Path) -> dict:
    """
    The run's saved progress (``progress.json``), empty before its first checkpoint.

    :param checkpoint_dir: the run's checkpoint folder.
    """
    path = checkpoint_dir / "progress.json"
    return json.loads(path.read_text()) if path.exists() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--discrete", action="store_true", help="Discrete(4) actions (SparseLunarLander-v0)")
    parser.add_argument("--timesteps", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-freq", type=int, default=25_000)
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--checkpoint-dir", type=Path, default=None, help="default: runs/train_lunar_lander/<env>/seed<k>")
    parser.add_argument("--save-path", default="sacx_lunar_lander")
    args = parser.parse_args()

    env_id = "SparseLunarLander-v0" if args.discrete else "SparseLunarLanderContinuous-v0"
    cpu = describe(cpu_capabilities())
    print(f"CPU: {cpu}")
    checkpoint_dir = args.checkpoint_dir or Path("runs", "train_lunar_lander", env_id, f"seed{args.seed}")
    progress = load_progress(checkpoint_dir)
    if (checkpoint_dir / "model.zip").exists():
        model = SACX.load(checkpoint_dir / "model.zip", env=make_vec_env(env_id, n_envs=1, seed=args.seed))
        model.load_replay_buffer(checkpoint_dir / "replay_buffer.pkl")
        print(
            f"resuming from {checkpoint_dir}: {model.num_timesteps} steps, "
            f"{progress.get('trained_seconds', 0.0) / 60:.1f} min trained so far"
        )
    else:
        # 10k uniformly random steps before learning: the warm-up every LunarLander measurement in the README used
        model = SACX("MlpPolicy", env_id, learning_starts=10_000, seed=args.seed, verbose=0)
        print(f"training SACX on {env_id} for {args.timesteps} steps; checkpoints in {checkpoint_dir}")
    eval_env = make_vec_env(env_id, n_envs=args.eval_episodes)
    progress_callback = ResumableProgress(checkpoint_dir, cpu, progress.get("trained_seconds", 0.0))
    # EvalCallback counts its calls (env steps, with one env) from this invocation's start: a resumed run starts at a
    # checkpoint, i.e. at an evaluation, so its evaluations stay every eval_freq steps of the whole run
    eval_callback = FixedEpisodesEvalCallback(eval_env, eval_freq=args.eval_freq, callback_after_eval=progress_callback)
    remaining = args.timesteps - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=eval_callback, reset_num_timesteps=False, progress_bar=True)
    model.save(args.save_path)
    progress = load_progress(checkpoint_dir)
    print(f"{env_id}: model saved to {os.path.abspath(args.save_path)}.zip after {model.num_timesteps} steps")
    if progress.get("landed_at_step") is not None:
        print(
            f"first landed (success >= {LANDED}) at {progress['landed_at_step']} steps, {progress['landed_after_minutes']} min"
        )
    else:
        print(f"the main head did not reach success {LANDED} in {model.num_timesteps} steps")


if __name__ == "__main__":
    main()
