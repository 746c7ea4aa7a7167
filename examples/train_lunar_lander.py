"""
Train SACX on the sparse LunarLander: reward 1 for a successful landing, 0 otherwise.

    python examples/train_lunar_lander.py                   # SparseLunarLanderContinuous-v0, 300k steps
    python examples/train_lunar_lander.py --discrete        # SparseLunarLander-v0
    python examples/train_lunar_lander.py --timesteps 50000 --seed 1
    python examples/train_lunar_lander.py --mixed-precision # bfloat16 matrix multiplies: faster on a CPU with AVX512-BF16

An EvalCallback reports the deterministic main head's success rate every ``--eval-freq`` steps; the model is saved
to ``--save-path`` and the final success rate over ``--eval-episodes`` episodes is printed.
"""

import argparse
import os

from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_sacx import SACX

# Seeds of the evaluation episodes, far from those of the training episodes
EVAL_SEED = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--discrete", action="store_true", help="Discrete(4) actions (SparseLunarLander-v0)")
    parser.add_argument("--timesteps", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-freq", type=int, default=25_000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--save-path", default="sacx_lunar_lander")
    parser.add_argument("--mixed-precision", action="store_true", help="SACX's mixed_precision (bfloat16 autocast)")
    args = parser.parse_args()

    env_id = "SparseLunarLander-v0" if args.discrete else "SparseLunarLanderContinuous-v0"
    eval_env = make_vec_env(env_id, n_envs=1, seed=EVAL_SEED)
    # The success rate of the main head is what counts; EvalCallback reads info["is_success"]
    eval_callback = EvalCallback(eval_env, n_eval_episodes=args.eval_episodes, eval_freq=args.eval_freq, verbose=1)
    # 10k uniformly random steps before learning: the warm-up every LunarLander measurement in the README used
    model = SACX("MlpPolicy", env_id, learning_starts=10_000, seed=args.seed, mixed_precision=args.mixed_precision, verbose=0)
    model.learn(args.timesteps, callback=eval_callback, progress_bar=True)
    model.save(args.save_path)

    # The sparse reward is 1 for a landing and 0 otherwise, so an episode's return is its success
    success_rate, _ = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=True)
    print(f"{env_id}: model saved to {os.path.abspath(args.save_path)}.zip")
    print(f"main head success rate after {model.num_timesteps} steps: {success_rate:.2f} ({args.eval_episodes} episodes)")


if __name__ == "__main__":
    main()
