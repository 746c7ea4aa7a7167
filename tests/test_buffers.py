import pickle

import numpy as np
import pytest
import torch as th
from gymnasium import spaces

import sb3_sacx  # noqa: F401  (registers the envs)
from sb3_sacx.buffers import UNKNOWN_INTENTION, SACXDictReplayBuffer, SACXReplayBuffer

OBS_SPACE = spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
ACTION_SPACE = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)


def fill(
    buffer: SACXReplayBuffer, n_steps: int, episode_lengths: list[int], truncate_every: int = 0, rewarded_step: int = -1
) -> None:
    """
    Store n_steps steps per env; obs = (episode id, step in episode); env e's episodes last episode_lengths[e].
    The main reward is 1 on every step, or, with ``rewarded_step >= 0``, only on that step of each episode.
    """
    n_envs = buffer.n_envs
    episode = np.arange(n_envs) * 1000.0
    step = np.zeros(n_envs)
    for _ in range(n_steps):
        done = step + 1 >= np.array(episode_lengths)
        truncated = done & (truncate_every > 0) & (episode % 2 == 1) if truncate_every else np.zeros(n_envs, bool)
        infos = [
            {"aux_rewards": np.array([step[e], episode[e]], dtype=np.float32), "TimeLimit.truncated": bool(truncated[e])}
            for e in range(n_envs)
        ]
        buffer.stage_behaviour(-step, np.zeros(n_envs))
        obs = np.stack([episode, step], axis=1)
        rewards = np.ones(n_envs) if rewarded_step < 0 else (step == rewarded_step).astype(np.float64)
        buffer.add(obs, obs + np.array([0, 1]), np.zeros((n_envs, 1)), rewards, done, infos)
        step = np.where(done, 0, step + 1)
        episode = np.where(done, episode + 1, episode)


@pytest.mark.parametrize("n_envs", [1, 3])
@pytest.mark.parametrize("full", [False, True])
def test_snippets_stay_in_one_episode_and_behind_the_write_head(n_envs: int, full: bool) -> None:
    buffer = SACXReplayBuffer(200 * n_envs, OBS_SPACE, ACTION_SPACE, n_envs=n_envs, n_aux_tasks=2)
    fill(buffer, 537 if full else 150, episode_lengths=[7, 11, 4][:n_envs])
    assert buffer.full == full
    samples = buffer.sample_snippets(500, 6)
    obs, next_obs, mask = samples.observations.numpy(), samples.next_observations.numpy(), samples.mask.numpy()
    assert mask[:, 0].all()  # a snippet starts at any stored step
    for b in range(len(mask)):
        real = mask[b].astype(bool)
        assert real.tolist() == sorted(real.tolist(), reverse=True)  # real steps form a prefix
        episodes, steps = obs[b, real, 0], obs[b, real, 1]
        assert (episodes == episodes[0]).all()  # never crosses an episode end
        np.testing.assert_array_equal(np.diff(steps), 1.0)  # consecutive steps, never past the write head
        np.testing.assert_array_equal(next_obs[b, real, 1], steps + 1)
        # The snippet stops at the first step that ended its episode, that step included
        ended = samples.terminations.numpy()[b, real] > 0
        assert not ended[:-1].any()
    np.testing.assert_array_equal(samples.aux_rewards.numpy()[..., 0][mask > 0], obs[..., 1][mask > 0])
    np.testing.assert_array_equal(samples.behaviour_log_probs.numpy()[mask > 0], -obs[..., 1][mask > 0])


@pytest.mark.parametrize("n_envs", [1, 3])
@pytest.mark.parametrize("full", [False, True])
def test_rewarded_snippets_contain_a_rewarded_step_of_their_own_episode(n_envs: int, full: bool) -> None:
    buffer = SACXReplayBuffer(300 * n_envs, OBS_SPACE, ACTION_SPACE, n_envs=n_envs, n_aux_tasks=2)
    # Step 5 of each episode is rewarded, except in env 2 whose episodes end before it
    fill(buffer, 737 if full else 250, episode_lengths=[40, 9, 4][:n_envs], rewarded_step=5)
    samples = buffer.sample_snippets(400, 8, rewarded_fraction=0.25)
    obs, rewards, mask = samples.observations.numpy(), samples.main_rewards.numpy(), samples.mask.numpy() > 0
    rewarded = (rewards > 0) & mask
    assert rewarded[:100].any(axis=1).all()
    # Uniform snippets rarely meet one (1/40 or 1/9 of the steps are rewarded)
    assert rewarded[100:].any(axis=1).mean() < 0.5
    place_in_snippet = np.argmax(rewarded[:100], axis=1)
    assert set(place_in_snippet) == set(range(6))  # anywhere the episode start allows: step 5 is the 6th
    for b in range(100):
        assert (obs[b, mask[b], 0] == obs[b, 0, 0]).all()  # within one episode
        np.testing.assert_array_equal(np.diff(obs[b, mask[b], 1]), 1.0)


def test_rewarded_snippets_forget_overwritten_rewards_and_survive_pickling() -> None:
    buffer = SACXReplayBuffer(100, OBS_SPACE, ACTION_SPACE, n_aux_tasks=2)
    fill(buffer, 100, episode_lengths=[1000], rewarded_step=10)
    assert (buffer.sample_snippets(50, 4, rewarded_fraction=1.0).main_rewards.numpy() > 0).any(axis=1).all()
    # A buffer pickled before the rewarded index existed loads and samples too
    del buffer.__dict__["_rewarded"]
    buffer = pickle.loads(pickle.dumps(buffer))
    assert (buffer.sample_snippets(50, 4, rewarded_fraction=1.0).main_rewards.numpy() > 0).any(axis=1).all()
    fill(buffer, 20, episode_lengths=[1000], rewarded_step=10**6)  # overwrites positions 0-19, the reward included
    samples = buffer.sample_snippets(50, 4, rewarded_fraction=1.0)  # none left: all uniform
    assert (samples.main_rewards.numpy() == 0).all()
    assert samples.mask.numpy()[:, 0].all()


def test_snippets_reach_the_last_stored_step_but_not_beyond() -> None:
    buffer = SACXReplayBuffer(100, OBS_SPACE, ACTION_SPACE, n_aux_tasks=2)
    fill(buffer, 20, episode_lengths=[1000])  # one long, unfinished episode
    samples = buffer.sample_snippets(300, 8)
    last_steps = samples.observations.numpy()[..., 1][samples.mask.numpy() > 0]
    assert last_steps.max() == 19


def test_truncations_are_not_terminations() -> None:
    buffer = SACXReplayBuffer(100, OBS_SPACE, ACTION_SPACE, n_aux_tasks=2)
    fill(buffer, 60, episode_lengths=[5], truncate_every=2)
    samples = buffer.sample_snippets(400, 5)
    episodes = samples.observations.numpy()[..., 0]
    ends = (samples.next_observations.numpy()[..., 1] == 5) & (samples.mask.numpy() > 0)
    terminations = samples.terminations.numpy()
    assert ends.any()
    np.testing.assert_array_equal(terminations[ends], (episodes[ends] % 2 == 0).astype(np.float32))


def test_truncate_last_episodes_cuts_snippets_at_a_reset() -> None:
    buffer = SACXReplayBuffer(100, OBS_SPACE, ACTION_SPACE, n_aux_tasks=2)
    fill(buffer, 10, episode_lengths=[1000])
    buffer.truncate_last_episodes()
    assert buffer.dones[9, 0] == 1 and buffer.timeouts[9, 0] == 1


def test_transitions_of_unknown_behaviour_cut_the_traces() -> None:
    buffer = SACXReplayBuffer(10, OBS_SPACE, ACTION_SPACE, n_aux_tasks=1)
    buffer.add(np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 1)), np.zeros(1), np.zeros(1), [{"aux_rewards": [0.0]}])
    assert buffer.behaviour_log_probs[0, 0] == np.inf and buffer.intentions[0, 0] == UNKNOWN_INTENTION
    # log rho = log pi - inf = -inf: the trace weight min(1, rho) is 0
    log_rho = th.as_tensor(-1.0) - th.as_tensor(buffer.behaviour_log_probs[0, 0])
    assert th.exp(th.clamp(log_rho, max=0.0)).item() == 0.0


def test_add_needs_the_aux_rewards() -> None:
    buffer = SACXReplayBuffer(10, OBS_SPACE, ACTION_SPACE, n_aux_tasks=1)
    buffer.stage_behaviour(np.zeros(1), np.zeros(1))
    with pytest.raises(KeyError, match="AuxRewardWrapper"):
        buffer.add(np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 1)), np.zeros(1), np.zeros(1), [{}])


def test_dict_observations() -> None:
    space = spaces.Dict({"a": OBS_SPACE, "b": spaces.Box(0, 1, shape=(3,))})
    buffer = SACXDictReplayBuffer(50, space, ACTION_SPACE, n_aux_tasks=1)
    for step in range(20):
        buffer.stage_behaviour(np.zeros(1), np.zeros(1))
        obs = {"a": np.full((1, 2), step, np.float32), "b": np.zeros((1, 3), np.float32)}
        buffer.add(obs, obs, np.zeros((1, 1)), np.zeros(1), np.array([step % 5 == 4]), [{"aux_rewards": [0.0]}])
    samples = buffer.sample_snippets(10, 3)
    assert samples.observations["a"].shape == (10, 3, 2) and samples.observations["b"].shape == (10, 3, 3)


def test_a_million_lunar_lander_steps_fit_in_half_a_gigabyte() -> None:
    import gymnasium as gym

    env = gym.make("SparseLunarLanderContinuous-v0")
    buffer = SACXReplayBuffer(1_000_000, env.observation_space, env.action_space, n_aux_tasks=5)
    arrays = [value for value in vars(buffer).values() if isinstance(value, np.ndarray)]
    assert sum(array.nbytes for array in arrays) < 0.5 * 2**30


def test_rewarded_fraction_counts_the_stored_transitions_with_a_main_reward() -> None:
    buffer = SACXReplayBuffer(100, OBS_SPACE, ACTION_SPACE, n_envs=2, n_aux_tasks=2)
    assert buffer.rewarded_fraction() == 0.0
    fill(buffer, 40, episode_lengths=[10, 10], rewarded_step=3)
    assert buffer.rewarded_fraction() == pytest.approx(0.1)
    fill(buffer, 80, episode_lengths=[10, 10])  # overwrites the oldest steps: now every stored step is rewarded
    assert buffer.rewarded_fraction() == 1.0
