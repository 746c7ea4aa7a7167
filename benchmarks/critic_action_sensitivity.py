"""
How much a Box critic's value depends on the action, at initialisation and after training: a check of the guess that a
DDPG-style critic (``critic_action_layer=1``) learns worse because its action weights start small (the action is 2 of
the 258 inputs of the layer it joins, initialised like ``nn.Linear``).

For each checkpoint of ``benchmarks/sparse_lunar_lander.py`` (continuous env) and for a freshly initialised model of
the same configuration, on the states that the checkpoint's deterministic main head visits:

- ``|w_action|`` and ``|w_state|``: mean absolute weight of the action's and the state's inputs to the layer where the
  action joins (first critic of the twin);
- ``action/state spread``: per task, the standard deviation of Q over random actions at a state (averaged over states)
  divided by the standard deviation over states of Q averaged over those actions; the table gives the main task's and
  the mean over all tasks.

    python benchmarks/critic_action_sensitivity.py runs/checkpoints/continuous/sacx/seed0 \\
        runs/checkpoints/continuous/sacx-ddpg-critic/seed0

Prints a table and writes ``benchmarks/results/critic_action_sensitivity.csv``.
"""

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th
from common import ENV_IDS, RESULTS, write_rows
from gymnasium import spaces
from report.tables import table

from sb3_sacx import SACX

# Episodes start from seeds that neither training nor the benchmark's evaluation uses
STATE_SEED_OFFSET = 3_000_000
# The printed table's figures after the checkpoint, the model and the action layer: column -> action_sensitivity's key
FIGURES = {
    "mean abs w_action": "mean_abs_action_weight",
    "mean abs w_state": "mean_abs_state_weight",
    "action/state spread main": "spread_ratio_main",
    "mean": "spread_ratio_mean",
}


def visited_states(model: SACX, n_episodes: int) -> np.ndarray:
    """
    ``[N, obs_dim]`` observations of the deterministic main head's episodes.

    :param model: the model whose deterministic main head acts, on the continuous lander.
    :param n_episodes: episodes to run, seeded from ``STATE_SEED_OFFSET``.
    """
    env = gym.make(ENV_IDS["continuous"])
    states = []
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=STATE_SEED_OFFSET + episode)
        done = False
        while not done:
            states.append(obs)
            action, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    env.close()
    return np.array(states)


def action_sensitivity(model: SACX, states: np.ndarray, n_actions: int, seed: int) -> dict[str, float]:
    """
    Weight sizes where the action joins the critic and Q's spread over actions relative to its spread over states.

    :param model: a Box-action model; the first critic of its twin is measured.
    :param states: ``[N, obs_dim]`` observations at which Q is evaluated.
    :param n_actions: random actions per state, uniform in the critic's [-1, 1] action space.
    :param seed: seed of the random actions.
    :return: the layer where the action joins, the mean absolute action and state weights there, and the
        spread ratio of the main task and its mean over all tasks.
    """
    q_net = model.critic.q_net
    layer = q_net.action_layer
    generator = th.Generator().manual_seed(seed)
    actions = th.rand(len(states), n_actions, q_net.action_weight.shape[1], generator=generator) * 2 - 1
    obs_tensor, _ = model.policy.obs_to_tensor(states)
    with th.no_grad():
        values = model.critic(obs_tensor, actions)[0]  # first critic: [N, M, K]
    over_actions = values.std(dim=1).mean(dim=0)
    over_states = values.mean(dim=1).std(dim=0)
    ratios = (over_actions / over_states).numpy()
    return dict(
        action_layer=layer,
        mean_abs_action_weight=q_net.action_weight[0].abs().mean().item(),
        mean_abs_state_weight=q_net.weights[layer][0].abs().mean().item(),
        spread_ratio_main=float(ratios[0]),
        spread_ratio_mean=float(ratios.mean()),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", type=Path, nargs="+", help="directories with a model.zip (continuous env)")
    parser.add_argument("--episodes", type=int, default=5, help="episodes of the main head whose states are used")
    parser.add_argument("--actions", type=int, default=64, help="random actions per state")
    args = parser.parse_args()

    rows = []
    for checkpoint in args.checkpoints:
        trained = SACX.load(checkpoint / "model.zip", device="cpu")
        if isinstance(trained.action_space, spaces.Discrete):
            raise ValueError(f"{checkpoint} holds a Discrete-action model; its critic does not take the action as input.")
        states = visited_states(trained, args.episodes)
        fresh = SACX("MlpPolicy", ENV_IDS["continuous"], policy_kwargs=trained.policy_kwargs, buffer_size=1_000, seed=0)
        for name, model in (("init", fresh), (f"{trained.num_timesteps} steps", trained)):
            row = dict(checkpoint=str(checkpoint), model=name, n_states=len(states))
            row.update(action_sensitivity(model, states, args.actions, seed=0))
            rows.append(row)

    header = ("checkpoint", "model", "action layer", *FIGURES)
    cells = [
        [row["checkpoint"], row["model"], str(row["action_layer"]), *(f"{row[key]:.3f}" for key in FIGURES.values())]
        for row in rows
    ]
    print(table(header, cells, "markdown"), end="")
    write_rows(RESULTS / "critic_action_sensitivity.csv", list(rows[0]), rows)


if __name__ == "__main__":
    main()
