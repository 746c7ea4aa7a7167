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
an interruption and it resumes from there (a checkpoint is complete or absent, whenever the run is stopped; one of
another env or seed is refused). The final model is saved to ``--save-path``, replacing a file there only once written.
"""

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from fixed_episodes import FixedEpisodesEvalCallback
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from sb3_sacx import SACX
from sb3_sacx.checkpoints import checkpoint_record, restore_checkpoint, save_checkpoint, save_model
from sb3_sacx.hardware import cpu_capabilities, describe

# The main head lands when it succeeds in this fraction of the evaluation episodes (SPEC section 7)
LANDED = 0.9


class ResumableProgress(BaseCallback):
    """
    Run after each of ``EvalCallback``'s evaluations: report the success rate and the training time, and checkpoint
    the model, its replay buffer and that time, so that an interrupted run resumes where it stopped.

    :param checkpoint_dir: where the checkpoint goes.
    :param cpu: the CPU that trains (:func:`sb3_sacx.hardware.describe`), recorded beside the training time.
    :param trained_seconds: training time of the earlier invocations of this run.
    """

    def __init__(self, checkpoint_dir: Path, run: dict[str, Any], cpu: str, trained_seconds: float = 0.0) -> None:
        super().__init__()
        self.checkpoint_dir = checkpoint_dir
        self.run = run
        self.cpu = cpu
        self.trained_seconds = trained_seconds
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return self.trained_seconds + time.perf_counter() - self.started

    def _on_step(self) -> bool:
        success = self.parent.last_mean_reward  # the sparse reward is 1 for a landing: the mean return is the success
        minutes = self.elapsed() / 60
        print(f"{self.num_timesteps:>7d} steps, {minutes:6.1f} min: main head success {success:.2f}", flush=True)
        progress = checkpoint_record(self.checkpoint_dir) or dict(self.run)
        if success >= LANDED and progress.get("landed_at_step") is None:
            progress.update(landed_at_step=self.num_timesteps, landed_after_minutes=round(minutes, 1))
            print(f"landed: success {success:.2f} >= {LANDED} after {self.num_timesteps} steps and {minutes:.1f} min")
        # The CPU beside the time: the time to a landing agent depends on it (SPEC section 7)
        progress.update(trained_seconds=self.elapsed(), cpu=self.cpu)
        # Model, replay buffer and progress as one checkpoint, complete or absent whenever the run is stopped
        save_checkpoint(self.model, self.checkpoint_dir, progress)
        return True


def resume(checkpoint_dir: Path, run: dict[str, Any]) -> dict[str, Any]:
    """
    The run's saved progress (empty before its first checkpoint), after checking that the checkpoint is this run's.

    :param checkpoint_dir: the run's checkpoint folder.
    :param run: what makes the run this one (env id and seed).
    """
    progress = restore_checkpoint(checkpoint_dir) or {}
    other = {key: progress[key] for key in run if key in progress and progress[key] != run[key]}
    if other:
        sys.exit(
            f"error: {checkpoint_dir} holds a checkpoint of another run ({other}, this run: {run}): "
            "pass another --checkpoint-dir, or the arguments of that run to resume it."
        )
    return progress


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
    run = {"env_id": env_id, "seed": args.seed}
    progress = resume(checkpoint_dir, run)
    if progress:
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
    progress_callback = ResumableProgress(checkpoint_dir, run, cpu, progress.get("trained_seconds", 0.0))
    # EvalCallback counts its calls (env steps, with one env) from this invocation's start: a resumed run starts at a
    # checkpoint, i.e. at an evaluation, so its evaluations stay every eval_freq steps of the whole run
    eval_callback = FixedEpisodesEvalCallback(eval_env, eval_freq=args.eval_freq, callback_after_eval=progress_callback)
    remaining = args.timesteps - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=eval_callback, reset_num_timesteps=False, progress_bar=True)
    saved = save_model(model, args.save_path)
    progress = checkpoint_record(checkpoint_dir) or {}
    print(f"{env_id}: model saved to {saved.resolve()} after {model.num_timesteps} steps")
    if progress.get("landed_at_step") is not None:
        print(
            f"first landed (success >= {LANDED}) at {progress['landed_at_step']} steps, {progress['landed_after_minutes']} min"
        )
    else:
        print(f"the main head did not reach success {LANDED} in {model.num_timesteps} steps")


if __name__ == "__main__":
    main()
