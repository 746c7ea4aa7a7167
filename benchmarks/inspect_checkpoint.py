"""
Why a sparse-LunarLander run lands or does not: a report on one checkpoint of ``benchmarks/sparse_lunar_lander.py``.

1. The replay buffer, per 25k steps: successes, rests (episode ends at rest), how episodes ended, the fraction of
   steps with a leg on the ground, and each intention's share of the acting; for Box actions, how many stored actions
   are saturated (where version 0.1.0's Retrace defect cut the traces).
2. Each head of the model, acting deterministically (or, with ``--stochastic``, sampling as in training) on fixed-seed
   episodes: how its episodes end, their length and
   per-task returns, and its critic's value of the first state against the discounted return it then earned
   (an over- or underestimating critic shows here).

    python benchmarks/inspect_checkpoint.py runs/checkpoints/continuous/sacx/seed1 --episodes 10
"""

import argparse
import pickle
from pathlib import Path

import numpy as np
import torch as th
from common import ENV_IDS, make_env
from gymnasium import spaces

from sb3_sacx import SACX
from sb3_sacx.buffers import SACXReplayBuffer
from sb3_sacx.rewards import auto_main_reward_scale
from sb3_sacx.tasks.lunar_lander import _LEG0, _LEG1

OUTCOMES = ("success", "rest", "crash", "out", "timeout")
# Episodes of the head report start from seeds that neither training nor the benchmark's evaluation uses
HEAD_SEED_OFFSET = 2_000_000


def episode_outcome(success: bool, at_rest: bool, truncated: bool, x: float) -> str:
    """
    How an episode ended: landed, came to rest off the pad, crashed, left the screen (|x| >= 1) or ran out of time.

    :param success: whether the episode ended in a landing.
    :param at_rest: whether it ended at rest (absorbing for the auxiliary tasks).
    :param truncated: whether the time limit ended it.
    :param x: horizontal position in the final observation (its first entry).
    :return: one of ``OUTCOMES``.
    """
    if success:
        return "success"
    if at_rest:
        return "rest"
    if truncated:
        return "timeout"
    return "out" if abs(x) >= 1.0 else "crash"


def buffer_report(buffer: SACXReplayBuffer, task_names: tuple[str, ...], chunk: int) -> None:
    """
    Print part 1 of the report, per env of the buffer: per ``chunk`` steps, how episodes ended, the share of steps
    with a leg on the ground and each intention's share of the acting; then, for Box actions, the saturated
    actions, and which intention acted last in the successes and the rests.

    :param buffer: the checkpoint's replay buffer.
    :param task_names: the model's tasks, main first, in the order of the intentions' indices.
    :param chunk: steps (per env) in one row of the report.
    """
    n_stored = buffer.n_stored()
    print(f"replay buffer: {n_stored} steps per env, {buffer.n_envs} env(s)")
    header = f"{'steps':>9s} {'episodes':>8s} " + " ".join(f"{o:>7s}" for o in OUTCOMES) + f" {'on ground':>9s}  acting share"
    for env in range(buffer.n_envs):
        ends = buffer.dones[:n_stored, env] > 0
        outcomes = np.array(
            [
                episode_outcome(success, at_rest, truncated, x)
                for success, at_rest, truncated, x in zip(
                    buffer.rewards[:n_stored, env][ends] > 0,
                    buffer.aux_absorbing[:n_stored, env][ends],
                    buffer.timeouts[:n_stored, env][ends] > 0,
                    buffer.next_observations[:n_stored, env, 0][ends],
                )
            ]
        )
        end_steps = np.flatnonzero(ends)
        # The sparse envs write Box2D's leg contacts into the observation's two leg flags (SPEC section 3): read them
        # there rather than from `touch`'s reward, which a main-task-only run does not store
        on_ground = buffer.next_observations[:n_stored, env, _LEG0 : _LEG1 + 1].max(axis=-1) > 0
        print(f"env {env}\n{header}")
        for start in range(0, n_stored, chunk):
            stop = min(n_stored, start + chunk)
            in_chunk = outcomes[(end_steps >= start) & (end_steps < stop)]
            intentions = buffer.intentions[start:stop, env]
            shares = np.bincount(intentions[intentions >= 0], minlength=len(task_names)) / (stop - start)
            counts = " ".join(f"{int(np.sum(in_chunk == o)):7d}" for o in OUTCOMES)
            print(
                f"{start:>9d} {len(in_chunk):8d} {counts} {on_ground[start:stop].mean():9.3f}  "
                + " ".join(f"{name}={share:.2f}" for name, share in zip(task_names, shares))
            )
        if isinstance(buffer.action_space, spaces.Box):
            print("saturated actions per action dimension: " + saturation_report(buffer.actions[:n_stored, env]))
        for outcome in ("success", "rest"):
            final_intentions = buffer.intentions[:n_stored, env][end_steps[outcomes == outcome]]
            by_task = np.bincount(final_intentions[final_intentions >= 0], minlength=len(task_names))
            print(f"{outcome} by the intention acting last: " + ", ".join(f"{n}={c}" for n, c in zip(task_names, by_task)))


def saturation_report(actions: np.ndarray) -> str:
    """
    ``[n, A]`` stored actions in [-1, 1]: per dimension, the share at ±1 exactly in float32 (torch's float32 tanh of a
    pre-squash sample u rounds to ±1 from |u| of about 9.0 on) and the share beyond ±0.99999 (|u| above about 6.1).
    Version 0.1.0 recomputed the learner's log π from such actions while the behaviour's came from u, so its Retrace
    trace weights fell there (a mean of 0.998 at a pre-squash mean of 6, 0.655 at 8): this says how much of a run's
    data that defect touched.

    :param actions: ``[n, A]`` stored actions of one env, in [-1, 1].
    :return: per action dimension, ``<share> at ±1, <share> beyond ±0.99999``, comma-separated.
    """
    magnitude = np.abs(actions.astype(np.float32))
    at_one, beyond = (magnitude >= 1.0).mean(axis=0), (magnitude > 0.99999).mean(axis=0)
    return ", ".join(f"{a:.2%} at ±1, {b:.2%} beyond ±0.99999" for a, b in zip(at_one, beyond))


def head_report(model: SACX, env_name: str, n_episodes: int, deterministic: bool) -> None:
    """
    Print part 2 of the report: per head, how its episodes ended, their mean length and per-task returns, and
    each task's critic value of the first state against the discounted return then earned.

    :param model: the checkpoint's model.
    :param env_name: the benchmark's ``--env`` (an ``ENV_IDS`` key).
    :param n_episodes: episodes per head, seeded from ``HEAD_SEED_OFFSET``.
    :param deterministic: whether the heads act deterministically (else they sample, as in training).
    """
    env = make_env(env_name, model.task_names[1:])
    acting = "deterministic" if deterministic else "stochastic"
    th.manual_seed(HEAD_SEED_OFFSET)  # stochastic heads sample the same actions on every run of the report
    print(f"\nheads, {n_episodes} {acting} episodes each; Q(s_0) is the min over twin critics, G the discounted return")
    for task in model.task_names:
        outcomes, lengths, returns, first_q, discounted = [], [], [], [], []
        for episode in range(n_episodes):
            obs, _ = env.reset(seed=HEAD_SEED_OFFSET + episode)
            rewards, done, truncated = [], False, False
            while not done:
                action, _ = model.predict(obs, deterministic=deterministic, task=task)
                if not rewards:
                    first_q.append(first_state_values(model, obs, action))
                obs, reward, terminated, truncated, info = env.step(action)
                rewards.append(np.concatenate([[reward], info["aux_rewards"]]))
                done = terminated or truncated
            outcomes.append(episode_outcome(info["is_success"], info.get("aux_absorbing", False), truncated, obs[0]))
            lengths.append(len(rewards))
            returns.append(np.sum(rewards, axis=0))
            discounted.append(discounted_return(np.array(rewards), model, info.get("aux_absorbing", False)))
        counts = ", ".join(f"{o}={outcomes.count(o)}" for o in OUTCOMES if outcomes.count(o))
        print(f"head {task}: {counts}; mean length {np.mean(lengths):.0f}")
        print("   task        return   Q(s_0)        G")
        for index, name in enumerate(model.task_names):
            print(
                f"   {name:13s} {np.mean(returns, axis=0)[index]:7.1f} {np.mean(first_q, axis=0)[index]:8.1f} "
                f"{np.mean(discounted, axis=0)[index]:8.1f}"
            )


def first_state_values(model: SACX, obs: np.ndarray, action: np.ndarray) -> np.ndarray:
    """
    Every task's critic value of the head's first action (the target of what its discounted return estimates).

    :param model: the model whose critics are read.
    :param obs: the episode's first observation.
    :param action: the head's action there, as ``predict`` returns it.
    :return: ``[K]`` values, the minimum over the twin critics.
    """
    obs_tensor, _ = model.policy.obs_to_tensor(obs)
    with th.no_grad():
        if isinstance(model.action_space, spaces.Discrete):
            values = model.critic(obs_tensor).min(dim=0).values[0, :, int(action)]
        else:
            scaled = th.as_tensor(model.policy.scale_action(action), dtype=th.float32).view(1, 1, -1)
            values = model.critic(obs_tensor, scaled).min(dim=0).values[0, 0]
    return values.cpu().numpy()


def discounted_return(rewards: np.ndarray, model: SACX, at_rest: bool) -> np.ndarray:
    """
    ``[K]`` discounted returns as the learner sees them: main reward scaled, rest absorbing for the auxiliary tasks.

    :param rewards: ``[T, K]`` one episode's rewards per step, the main reward first.
    :param model: the model whose ``gamma`` and main reward scale apply.
    :param at_rest: whether the episode ended at rest: the last auxiliary rewards then count at every later step.
    """
    scale = model.effective_main_reward_scale
    if scale is None:  # a model that never trained: what "auto" would decide from its replay buffer
        scale = auto_main_reward_scale(model.replay_buffer.rewarded_fraction(), model.gamma)
    scaled = rewards.copy()
    scaled[:, 0] *= scale
    if at_rest:
        scaled[-1, 1:] /= 1.0 - model.gamma
    return (scaled * model.gamma ** np.arange(len(rewards))[:, None]).sum(axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="directory with model.zip and replay_buffer.pkl")
    parser.add_argument("--env", choices=list(ENV_IDS), default=None, help="default: read from the checkpoint's path")
    parser.add_argument("--episodes", type=int, default=10, help="episodes per head (0: no head report)")
    parser.add_argument("--stochastic", action="store_true", help="heads sample actions, as in training")
    parser.add_argument("--chunk", type=int, default=25_000, help="buffer report rows, in steps")
    args = parser.parse_args()
    env = args.env or next((name for name in ENV_IDS if name in args.checkpoint.parts), "continuous")

    model = SACX.load(args.checkpoint / "model.zip", device="cpu")
    with open(args.checkpoint / "replay_buffer.pkl", "rb") as file:
        buffer = pickle.load(file)
    print(f"{args.checkpoint}: {model.num_timesteps} steps")
    buffer_report(buffer, model.task_names, args.chunk)
    if args.episodes > 0:
        head_report(model, env, args.episodes, deterministic=not args.stochastic)


if __name__ == "__main__":
    main()
