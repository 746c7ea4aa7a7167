import csv
import inspect
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import SAC
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv, IdentityEnvBox, SimpleMultiObsEnv
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import SubprocVecEnv, VecNormalize
from toy_envs import PointReach, go_right, point_reach

from sb3_sacx import SACX, AuxRewardWrapper, UniformScheduler
from sb3_sacx.buffers import SACXReplayBuffer
from sb3_sacx.hardware import native_bfloat16
from sb3_sacx.validation import HYPERPARAMETER_RULES, UNSUPPORTED_OPTIONS

SMALL = dict(learning_starts=50, batch_size=16, buffer_size=2_000, policy_kwargs=dict(net_arch=[16, 16]))


def zero(obs: Any, action: Any, next_obs: Any, info: dict) -> float:
    return 0.0


def small_sacx(env: Any, **kwargs: Any) -> SACX:
    return SACX("MlpPolicy", env, **{**SMALL, "seed": 0, **kwargs})


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("retrace_steps", [1, 4])
@pytest.mark.parametrize("scheduler", ["sac-u", "sac-q"])
@pytest.mark.parametrize("n_envs", [1, 2])
def test_learn_grid(discrete: bool, retrace_steps: int, scheduler: str, n_envs: int) -> None:
    env = make_vec_env(lambda: point_reach(discrete), n_envs=n_envs)
    model = small_sacx(env, retrace_steps=retrace_steps, scheduler=scheduler, schedule_period=5, train_freq=2)
    model.learn(200)
    assert model.num_timesteps >= 200
    assert model._n_updates > 0
    assert model.task_names == ("main", "right")
    assert model.log_ent_coef.shape == (2,)
    stored = model.replay_buffer.n_stored()
    assert set(np.unique(model.replay_buffer.intentions[:stored])) == {0, 1}  # both intentions acted


def test_sparse_lunar_lander_with_subprocesses() -> None:
    env = make_vec_env("sb3_sacx:SparseLunarLanderContinuous-v0", n_envs=2, vec_env_cls=SubprocVecEnv)
    try:
        model = small_sacx(env, learning_starts=100)
        model.learn(300)
        assert model.task_names == ("main", "touch", "hover_planar", "hover_angular", "upright", "goal_distance")
        assert model.replay_buffer.aux_rewards[: model.replay_buffer.n_stored()].max() > 0
    finally:
        env.close()


def test_vec_normalize() -> None:
    env = VecNormalize(make_vec_env(lambda: point_reach(), n_envs=2), gamma=0.99, norm_reward=False)
    model = small_sacx(env)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a sparse 0/1 reward left unnormalised: no warning
        model.learn(200)
    assert model.get_vec_normalize_env() is env


def test_auto_main_reward_scale_warns_on_a_normalised_reward() -> None:
    env = VecNormalize(make_vec_env(lambda: point_reach(), n_envs=1), gamma=0.99)
    with pytest.warns(UserWarning, match="main_reward_scale"):
        small_sacx(env).learn(60)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        small_sacx(env, main_reward_scale=1.0).learn(60)
        # A dense reward, which "auto" leaves unscaled, may be normalised
        dense = VecNormalize(make_vec_env(lambda: AuxRewardWrapper(IdentityEnvBox(eps=0.5), {"zero": zero}), n_envs=1))
        small_sacx(dense).learn(60)


def test_callbacks_and_evaluate_policy(tmp_path) -> None:
    eval_env = make_vec_env(lambda: point_reach(), n_envs=1)
    eval_callback = EvalCallback(eval_env, eval_freq=100, n_eval_episodes=2, log_path=str(tmp_path / "eval"))
    checkpoint = CheckpointCallback(save_freq=100, save_path=str(tmp_path / "ckpt"), save_replay_buffer=True)
    model = small_sacx(point_reach())
    model.learn(250, callback=[eval_callback, checkpoint], progress_bar=True)
    assert eval_callback.last_mean_reward is not None
    assert (tmp_path / "eval" / "evaluations.npz").exists()
    assert sorted(path.name for path in (tmp_path / "ckpt").iterdir())[:2] == [
        "rl_model_100_steps.zip",
        "rl_model_200_steps.zip",
    ]
    mean_reward, _ = evaluate_policy(model, eval_env, n_eval_episodes=3)
    assert 0.0 <= mean_reward <= 1.0


def test_predict_with_each_head() -> None:
    model = small_sacx(point_reach())
    model.learn(100)
    obs = np.array([[0.3]], dtype=np.float32)
    main_action, _ = model.predict(obs, deterministic=True)
    assert np.array_equal(main_action, model.predict(obs, deterministic=True, task="main")[0])
    by_index = model.predict(obs, deterministic=True, task=1)[0]
    assert np.array_equal(by_index, model.predict(obs, deterministic=True, task="right")[0])
    # The heads are distinct outputs
    mean, _ = model.actor.gaussian_params(th.as_tensor(obs))
    assert not th.allclose(mean[:, 0], mean[:, 1])
    with pytest.raises(ValueError, match="'left'"):
        model.predict(obs, task="left")
    with pytest.raises(KeyError):
        model.predict(obs, task="left")
    with pytest.raises(ValueError, match="out of range"):
        model.predict(obs, task=5)
    with pytest.raises(TypeError, match="task"):
        model.predict(obs, task=1.5)


def test_predict_keeps_no_task_on_the_policy() -> None:
    """Another predict() for another task, interleaved with this one (as a second thread may), changes nothing."""
    model = small_sacx(point_reach())
    obs = np.array([[0.3]], dtype=np.float32)
    expected = model.predict(obs, deterministic=True, task="right")[0]
    obs_to_tensor = model.policy.obs_to_tensor

    def interleaved_obs_to_tensor(observation):
        model.policy.obs_to_tensor = obs_to_tensor
        model.predict(obs, deterministic=True, task="main")
        return obs_to_tensor(observation)

    model.policy.obs_to_tensor = interleaved_obs_to_tensor
    assert np.array_equal(model.predict(obs, deterministic=True, task="right")[0], expected)
    assert not np.array_equal(expected, model.predict(obs, deterministic=True)[0])


def scheduled_tasks_and_weights(model: SACX, seed: int) -> tuple[np.ndarray, th.Tensor]:
    model.set_random_seed(seed)
    model.learn(120)
    intentions = model.replay_buffer.intentions[: model.replay_buffer.pos, 0].copy()
    return intentions, th.cat([p.detach().flatten() for p in model.policy.parameters()])


@pytest.mark.parametrize("scheduler", ["sac-u", "sac-q"])
def test_set_random_seed_gives_one_schedule_and_one_set_of_weights(scheduler: str) -> None:
    """Two models built with different seeds, given the same weights and then the same seed, learn the same."""
    settings = {**SMALL, "scheduler": scheduler, "schedule_period": 3}
    model, other = SACX("MlpPolicy", point_reach(), seed=1, **settings), SACX("MlpPolicy", point_reach(), seed=2, **settings)
    other.policy.load_state_dict(model.policy.state_dict())
    tasks, weights = scheduled_tasks_and_weights(model, seed=5)
    other_tasks, other_weights = scheduled_tasks_and_weights(other, seed=5)
    np.testing.assert_array_equal(tasks, other_tasks)
    assert th.equal(weights, other_weights)
    # and another seed schedules otherwise
    third = SACX("MlpPolicy", point_reach(), seed=1, **settings)
    assert not np.array_equal(tasks, scheduled_tasks_and_weights(third, seed=6)[0])


def test_save_load_round_trip(tmp_path) -> None:
    model = small_sacx(make_vec_env(lambda: point_reach(discrete=True), n_envs=2), scheduler="sac-q", schedule_period=5)
    model.learn(300)
    model.save(tmp_path / "model")
    model.save_replay_buffer(tmp_path / "buffer")
    env = make_vec_env(lambda: point_reach(discrete=True), n_envs=2)
    loaded = SACX.load(tmp_path / "model", env=env)
    observations = np.linspace(-1, 1, 7, dtype=np.float32)[:, None]
    for task in model.task_names:
        np.testing.assert_array_equal(
            model.predict(observations, deterministic=True, task=task)[0],
            loaded.predict(observations, deterministic=True, task=task)[0],
        )
    assert loaded.task_names == model.task_names
    assert isinstance(loaded.scheduler, type(model.scheduler))
    np.testing.assert_allclose(loaded.scheduler.probabilities(), model.scheduler.probabilities())
    assert loaded.scheduler.q_table.keys() == model.scheduler.q_table.keys()
    th.testing.assert_close(loaded.log_ent_coef, model.log_ent_coef)
    loaded.load_replay_buffer(tmp_path / "buffer")
    assert loaded.replay_buffer.n_stored() == model.replay_buffer.n_stored()
    np.testing.assert_array_equal(loaded.replay_buffer.behaviour_log_probs, model.replay_buffer.behaviour_log_probs)
    updates = loaded._n_updates
    loaded.learn(100, reset_num_timesteps=False)
    assert loaded._n_updates > updates and loaded.num_timesteps == 400


def test_rewarded_snippet_fraction_reaches_the_sampler_and_survives_save_load(tmp_path) -> None:
    model = small_sacx(point_reach(), rewarded_snippet_fraction=0.25)
    fractions = []
    sample_snippets = model.replay_buffer.sample_snippets

    def recording_sample_snippets(*args: Any, rewarded_fraction: float = 0.0, **kwargs: Any):
        fractions.append(rewarded_fraction)
        return sample_snippets(*args, rewarded_fraction=rewarded_fraction, **kwargs)

    model.replay_buffer.sample_snippets = recording_sample_snippets
    model.learn(100)
    assert fractions and set(fractions) == {0.25}
    model.save(tmp_path / "model")
    assert SACX.load(tmp_path / "model").rewarded_snippet_fraction == 0.25


def test_determinism() -> None:
    def actions_after_training() -> np.ndarray:
        model = small_sacx(point_reach(), scheduler="sac-q", schedule_period=5)
        model.learn(200)
        return model.predict(np.linspace(-1, 1, 5, dtype=np.float32)[:, None], deterministic=True)[0]

    np.testing.assert_array_equal(actions_after_training(), actions_after_training())


def test_fixed_ent_coef_and_custom_scheduler() -> None:
    class AlwaysAux(UniformScheduler):
        def _choice_probabilities(self, previous_tasks: tuple[int, ...]) -> np.ndarray:
            return np.array([0.0, 1.0])

    model = small_sacx(point_reach(), ent_coef=0.05, scheduler=AlwaysAux(2))
    model.learn(150)
    assert model.ent_coef_optimizer is None and model.log_ent_coef is None
    th.testing.assert_close(model.ent_coefs, th.full((2,), 0.05))
    assert (model.replay_buffer.intentions[: model.replay_buffer.n_stored()] == 1).all()


def test_logs_per_task(tmp_path) -> None:
    model = small_sacx(point_reach(), scheduler="sac-q")
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(300, log_interval=1)
    with open(tmp_path / "progress.csv") as file:
        rows = list(csv.DictReader(file))
    columns = list(rows[0])
    # SAC's keys mean what they mean for SAC, one task's: the main task's here; the sums over tasks are named apart
    row = next(row for row in rows if row["train/critic_loss"])
    for key in ("critic_loss", "actor_loss", "ent_coef"):
        assert float(row[f"train/{key}"]) == pytest.approx(float(row[f"train/{key}_main"]))
    for key in ("critic_loss", "actor_loss"):
        total = sum(float(row[f"train/{key}_{task}"]) for task in ("main", "right"))
        assert float(row[f"train/total_{key}"]) == pytest.approx(total, rel=1e-5)
    for key in (
        "train/critic_loss_main",
        "train/critic_loss_right",
        "train/ent_coef_right",
        "train/actor_loss_main",
        "rollout/return_main",
        "rollout/return_right",
        "scheduler/p_main",
        "scheduler/p_right",
        "rollout/success_rate",
        "train/ent_coef_loss",  # as SAC's
    ):
        assert key in columns


def test_tensorboard_logging(tmp_path) -> None:
    pytest.importorskip("tensorboard")
    small_sacx(point_reach(), tensorboard_log=str(tmp_path)).learn(120, log_interval=1)
    assert list((tmp_path / "SACX_1").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("discrete", [False, True])
def test_multi_input_and_cnn_policies(discrete: bool) -> None:
    dict_env = AuxRewardWrapper(SimpleMultiObsEnv(random_start=False, discrete_actions=discrete), {"zero": zero})
    SACX("MultiInputPolicy", dict_env, learning_starts=30, batch_size=16, buffer_size=500, seed=0).learn(60)
    image_env = FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, discrete=discrete)
    image_env = AuxRewardWrapper(image_env, {"zero": zero})
    SACX("CnnPolicy", image_env, learning_starts=30, batch_size=16, buffer_size=200, seed=0).learn(60)


class UnboundedActions(gym.Env):
    observation_space = spaces.Box(-1.0, 1.0, shape=(1,))
    action_space = spaces.Box(-np.inf, np.inf, shape=(1,))


class MultiDiscreteActions(UnboundedActions):
    action_space = spaces.MultiDiscrete([2, 3])


class ShiftedDiscreteActions(UnboundedActions):
    action_space = spaces.Discrete(3, start=1)


class NestedDictObservations(UnboundedActions):
    observation_space = spaces.Dict({"outer": spaces.Dict({"inner": spaces.Box(-1.0, 1.0, shape=(1,))})})
    action_space = spaces.Box(-1.0, 1.0, shape=(1,))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(retrace_lambda=1.5), ValueError, "retrace_lambda"),
        (dict(retrace_lambda=-0.1), ValueError, "retrace_lambda"),
        (dict(retrace_lambda="one"), TypeError, "retrace_lambda"),
        (dict(retrace_steps=0), ValueError, "retrace_steps"),
        (dict(retrace_steps=2.5), TypeError, "retrace_steps"),
        (dict(schedule_period=0), ValueError, "schedule_period"),
        (dict(batch_size=4, retrace_steps=8), ValueError, "batch_size"),
        (dict(scheduler="round-robin"), ValueError, "round-robin"),
        (dict(scheduler=object()), TypeError, "scheduler"),
        (dict(scheduler=UniformScheduler(2), scheduler_kwargs={"temperature": 1.0}), ValueError, "scheduler_kwargs"),
        (dict(scheduler="sac-u", scheduler_kwargs={"temperature": 1.0}), TypeError, "scheduler_kwargs"),
        (dict(main_reward_scale=0.0), ValueError, "main_reward_scale"),
        (dict(main_reward_scale="big"), ValueError, "main_reward_scale"),
        (dict(rewarded_snippet_fraction=1.5), ValueError, "rewarded_snippet_fraction"),
        (dict(rewarded_snippet_fraction="some"), TypeError, "rewarded_snippet_fraction"),
        (dict(mixed_precision="bf16"), ValueError, "mixed_precision"),
        (dict(mixed_precision=1.5), TypeError, "mixed_precision"),
        (dict(use_sde=True), ValueError, "use_sde"),
        (dict(replay_buffer_class=object), ValueError, "replay_buffer_class"),
        (dict(optimize_memory_usage=True), ValueError, "optimize_memory_usage"),
        (dict(n_steps=3), ValueError, "n_steps"),
        (dict(action_noise=NormalActionNoise(np.zeros(1), np.ones(1))), ValueError, "action_noise"),
        (dict(policy_kwargs=dict(net_arch=[8], critic_action_layer=3)), ValueError, "critic_action_layer"),
        (dict(policy_kwargs=dict(n_critics=0)), ValueError, "n_critics"),
        (dict(ent_coef=-1.0), ValueError, "ent_coef"),
        (dict(ent_coef="auto_-1"), ValueError, "ent_coef"),
        (dict(ent_coef="often"), ValueError, "ent_coef"),
        (dict(target_entropy="high"), ValueError, "target_entropy"),
        (dict(tau=2.0), ValueError, "tau"),
        (dict(gamma=1.0), ValueError, "gamma"),
        (dict(target_update_interval=0), ValueError, "target_update_interval"),
        (dict(train_freq=0), ValueError, "train_freq"),
        (dict(train_freq=(1, "epoch")), ValueError, "train_freq"),
        (dict(learning_rate="fast"), TypeError, "learning_rate"),
        # SB3's own SAC tests expect ValueError for these; SACX's error is a TypeError too
        (dict(train_freq="4"), ValueError, "train_freq"),
        (dict(train_freq=("1", "step")), ValueError, "train_freq"),
        (dict(train_freq="non_sense"), ValueError, "train_freq"),
        (dict(train_freq="4"), TypeError, "train_freq"),
        (dict(policy_kwargs=dict(use_sde=True)), ValueError, "use_sde"),
        (dict(buffer_size=0), ValueError, "buffer_size"),
        (dict(buffer_size="big"), TypeError, "buffer_size"),
        (dict(learning_starts=-1), ValueError, "learning_starts"),
        (dict(learning_starts=1.5), TypeError, "learning_starts"),
        (dict(gradient_steps=-2), ValueError, "gradient_steps"),  # SB3's -1 and 0 are accepted (test_gradient_steps)
        (dict(gradient_steps=1.5), TypeError, "gradient_steps"),
        (dict(stats_window_size=0), ValueError, "stats_window_size"),
        (dict(policy_kwargs=[1]), TypeError, "policy_kwargs"),
        (dict(replay_buffer_kwargs=[1]), TypeError, "replay_buffer_kwargs"),
        (dict(scheduler="sac-q", scheduler_kwargs={"temperature": "hot"}), TypeError, "temperature"),
        (dict(scheduler="sac-q", scheduler_kwargs={"epsilon": 2.0}), ValueError, "epsilon"),
    ],
)
def test_bad_hyperparameters(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        small_sacx(point_reach(), **kwargs)


# SACX's arguments without a rule in validation.HYPERPARAMETER_RULES, and why: checked by a rule of their own at
# construction (env, policy, replay_buffer_class, scheduler), or, as in SB3, not checked (logging, seeding, the device)
ARGUMENTS_WITHOUT_A_RULE = {
    "policy",
    "env",
    "replay_buffer_class",
    "scheduler",
    "scheduler_kwargs",
    "tensorboard_log",
    "verbose",
    "seed",
    "device",
    "_init_setup_model",
}
# A value each rule refuses
BAD_SETTINGS = {
    "learning_rate": "fast",
    "buffer_size": 0,
    "learning_starts": -1,
    "batch_size": 0,
    "tau": 2.0,
    "gamma": 1.0,
    "train_freq": (1, "epoch"),
    "gradient_steps": -2,
    "ent_coef": "often",
    "target_update_interval": 0,
    "target_entropy": "high",
    "retrace_steps": 0,
    "retrace_lambda": 1.5,
    "schedule_period": 0,
    "main_reward_scale": 0.0,
    "rewarded_snippet_fraction": 1.5,
    "mixed_precision": "bf16",
    "stats_window_size": 0,
    "policy_kwargs": [1],
    "replay_buffer_kwargs": [1],
}


def test_every_hyperparameter_has_one_rule() -> None:
    arguments = set(inspect.signature(SACX.__init__).parameters) - {"self"}
    assert set(HYPERPARAMETER_RULES) | set(UNSUPPORTED_OPTIONS) == arguments - ARGUMENTS_WITHOUT_A_RULE
    assert set(BAD_SETTINGS) == set(HYPERPARAMETER_RULES)


@pytest.mark.parametrize("name", sorted(BAD_SETTINGS))
def test_learn_walks_the_rules_again_on_settings_changed_since_construction(name: str) -> None:
    # A setting changed after construction (or by SACX.load(path, **kwargs)) is checked before learn() changes anything
    model = small_sacx(point_reach())
    model.learn(10)
    setattr(model, "_stats_window_size" if name == "stats_window_size" else name, BAD_SETTINGS[name])
    with pytest.raises((ValueError, TypeError), match=name):
        model.learn(10, reset_num_timesteps=False)
    assert model.num_timesteps == 10


def test_learn_refuses_an_unsupported_sac_option_given_to_load(tmp_path) -> None:
    small_sacx(point_reach()).learn(10).save(tmp_path / "model")
    loaded = SACX.load(tmp_path / "model", env=point_reach(), action_noise=NormalActionNoise(np.zeros(1), np.ones(1)))
    with pytest.raises(ValueError, match="action_noise"):
        loaded.learn(10, reset_num_timesteps=False)
    assert loaded.num_timesteps == 10


@pytest.mark.parametrize(
    ("make_env", "error", "match"),
    [
        (lambda: gym.make("Pendulum-v1"), ValueError, "AuxRewardWrapper"),
        (lambda: AuxRewardWrapper(UnboundedActions(), {"zero": zero}), TypeError, "bounded"),
        (lambda: AuxRewardWrapper(MultiDiscreteActions(), {"zero": zero}), TypeError, "MultiDiscrete"),
        (lambda: AuxRewardWrapper(ShiftedDiscreteActions(), {"zero": zero}), ValueError, "start at 0"),
        (lambda: AuxRewardWrapper(NestedDictObservations(), {"zero": zero}), ValueError, "'outer'"),
        # SB3's own test_dict_nested expects its NotImplementedError for a nested Dict
        (lambda: AuxRewardWrapper(NestedDictObservations(), {"zero": zero}), NotImplementedError, "nested"),
    ],
)
def test_bad_envs(make_env, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        small_sacx(make_env())


@pytest.mark.parametrize(
    ("policy", "match", "error"),
    [
        ("CnnPolicy", "CnnPolicy needs image", ValueError),
        ("CnnPolicy", "CnnPolicy needs image", AssertionError),  # what SB3's own test_image_like_input expects of SAC
        ("MultiInputPolicy", "needs Dict", ValueError),
    ],
)
def test_a_policy_that_cannot_read_the_observations_is_refused_before_sb3_asserts(
    policy: str, match: str, error: type
) -> None:
    with pytest.raises(error, match=match):
        SACX(policy, point_reach())


def test_cnn_policy_on_normalised_image_like_observations_as_sac_takes_them() -> None:
    """As SB3's own test_image_like_input: float images in a Box that is not [0, 255], with normalize_images=False."""
    image = FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, channel_first=True, discrete=False)
    image.observation_space = spaces.Box(-10.0, 10.0, shape=(1, 36, 36), dtype=np.float32)
    env = AuxRewardWrapper(image, {"zero": zero})
    small_sacx_kwargs = dict(learning_starts=30, batch_size=16, buffer_size=200, seed=0)
    SACX("CnnPolicy", env, policy_kwargs=dict(normalize_images=False), **small_sacx_kwargs).learn(40)
    normalized = dict(features_extractor_kwargs=dict(normalized_image=True), normalize_images=False)
    SACX("CnnPolicy", env, policy_kwargs=normalized, **small_sacx_kwargs)
    with pytest.raises(AssertionError, match="CnnPolicy needs image"):
        SACX("CnnPolicy", env, **small_sacx_kwargs)


def test_critic_called_as_sac_calls_it_gives_sacs_answer_for_the_main_task() -> None:
    """
    SB3's own test_infinite_horizon calls model.critic(obs, model.actor(obs)) and reads one [N, 1] Q per critic; with
    point_reach's one-dimensional actions, [N, 1] is also where the old code read M = 1 action per state.
    """
    model = small_sacx(point_reach(), policy_kwargs=dict(net_arch=[16, 16], n_critics=3))
    obs = model.policy.obs_to_tensor(np.zeros((4, *model.observation_space.shape), dtype=np.float32))[0]
    actions = model.actor(obs)
    values = model.critic(obs, actions)
    assert isinstance(values, tuple) and len(values) == 3
    every_task = model.critic(obs, actions.unsqueeze(1))
    for critic, value in enumerate(values):
        assert value.shape == (4, 1)
        th.testing.assert_close(value, every_task[critic, :, 0, :1])


def test_policy_kwargs_that_sb3_sac_has_used_work_unchanged() -> None:
    settings = dict(policy_kwargs=dict(net_arch=[16, 16]), learning_starts=20, batch_size=16)
    SAC("MlpPolicy", "Pendulum-v1", **settings)  # writes use_sde=False into settings["policy_kwargs"]
    assert settings["policy_kwargs"]["use_sde"] is False
    model = SACX("MlpPolicy", point_reach(), seed=0, **settings).learn(40)
    assert model._n_updates > 0
    assert settings["policy_kwargs"] == dict(net_arch=[16, 16], use_sde=False)  # the caller's dict is left alone


def test_sac_policy_options_that_only_gsde_reads_are_ignored_as_sac_ignores_them() -> None:
    # e.g. rl-zoo3's SAC settings with log_std_init; without use_sde, SAC's policy does not read them either
    gsde_only = dict(log_std_init=-3.0, use_expln=True, clip_mean=2.0)
    SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[16, 16], **gsde_only))
    model = small_sacx(point_reach(), policy_kwargs=dict(net_arch=[16, 16], **gsde_only))
    reference = small_sacx(point_reach())
    for (name, value), (_, expected) in zip(model.policy.state_dict().items(), reference.policy.state_dict().items()):
        th.testing.assert_close(value, expected, msg=name)


@pytest.mark.parametrize("gradient_steps", [0, -1])
def test_gradient_steps_as_sb3_reads_them(gradient_steps: int) -> None:
    # 0: collect without training (SB3's test_offpolicy_collect_rollout_batch_norm); -1: one per env step collected
    model = small_sacx(point_reach(), gradient_steps=gradient_steps, train_freq=4).learn(100)
    if gradient_steps == 0:
        assert model._n_updates == 0
    else:  # four per rollout of four steps from the first rollout that ends past learning_starts
        assert model._n_updates % 4 == 0 and model._n_updates >= 100 - SMALL["learning_starts"]


def test_replay_buffer_class_of_sacxs_own_kind_is_used() -> None:
    class CountingBuffer(SACXReplayBuffer):
        def sample_snippets(self, *args: Any, **kwargs: Any) -> Any:
            self.n_samples = getattr(self, "n_samples", 0) + 1
            return super().sample_snippets(*args, **kwargs)

    model = small_sacx(point_reach(), replay_buffer_class=CountingBuffer).learn(100)
    assert isinstance(model.replay_buffer, CountingBuffer) and model.replay_buffer.n_samples == model._n_updates > 0
    # SB3's buffers cannot sample snippets; a Box-observation buffer cannot store Dict observations
    with pytest.raises(ValueError, match="SACXReplayBuffer"):
        small_sacx(point_reach(), replay_buffer_class=ReplayBuffer)
    dict_env = AuxRewardWrapper(SimpleMultiObsEnv(random_start=False), {"zero": zero})
    with pytest.raises(ValueError, match="SACXDictReplayBuffer"):
        small_sacx(dict_env, replay_buffer_class=CountingBuffer)


def test_fixed_ent_coef_of_zero_as_sac_accepts_it() -> None:
    model = small_sacx(point_reach(), ent_coef=0.0).learn(100)
    assert model._n_updates > 0 and not model.ent_coefs.any()
    with pytest.raises(ValueError, match="ent_coef"):
        small_sacx(point_reach(), ent_coef="auto_0")  # a learned temperature starts from log(initial value)


class ReturnsTask(UniformScheduler):
    """A scheduler of a user's own that returns ``task`` from ``select`` and ``probabilities`` as given."""

    def __init__(self, task: Any, probabilities: Any = (0.5, 0.5)) -> None:
        super().__init__(2)
        self.task, self.given_probabilities = task, probabilities

    def select(self, env_index: int, step: int) -> Any:
        return self.task

    def probabilities(self) -> np.ndarray:
        return np.asarray(self.given_probabilities)


@pytest.mark.parametrize("task", [-1, 2, 0.5, "main"])
def test_a_scheduler_choosing_no_task_gets_a_clear_error(task: Any) -> None:
    model = small_sacx(point_reach(), scheduler=ReturnsTask(task))
    with pytest.raises(ValueError, match=r"ReturnsTask.select\(0, 0\) returned .*\[0, 1\]"):
        model.learn(10)


def test_a_scheduler_with_the_wrong_number_of_probabilities_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match=r"ReturnsTask.probabilities\(\) returned shape \(1,\).*another number of tasks"):
        small_sacx(point_reach(), scheduler=ReturnsTask(1, probabilities=(1.0,)))


def test_a_scheduler_that_changes_its_number_of_probabilities_gets_a_clear_error() -> None:
    scheduler = ReturnsTask(1)
    model = small_sacx(point_reach(), scheduler=scheduler)
    scheduler.given_probabilities = (1.0,)
    with pytest.raises(ValueError, match=r"ReturnsTask.probabilities\(\) returned shape \(1,\)"):
        model.learn(200, log_interval=1)


def test_a_scheduler_class_instead_of_an_instance_is_refused_at_construction() -> None:
    with pytest.raises(TypeError, match="UniformScheduler is a class: pass an instance"):
        small_sacx(point_reach(), scheduler=UniformScheduler)


def test_episodic_training_with_several_envs_is_refused_before_sb3_asserts(tmp_path) -> None:
    two_envs = make_vec_env(lambda: point_reach(), n_envs=2)
    with pytest.raises(ValueError, match="train_freq"):
        small_sacx(two_envs, train_freq=(1, "episode"))
    # A model that trains every episode, loaded onto two envs: refused at learn(), before SB3's assert
    small_sacx(point_reach(), train_freq=(1, "episode")).save(tmp_path / "episodic")
    model = SACX.load(tmp_path / "episodic", env=two_envs)
    with pytest.raises(ValueError, match="one env"):
        model.learn(10)


def test_settings_changed_after_construction_are_checked_at_learn(tmp_path) -> None:
    small_sacx(point_reach()).save(tmp_path / "model")
    for kwargs, match in ((dict(retrace_lambda=5.0), "retrace_lambda"), (dict(schedule_period=0), "schedule_period")):
        model = SACX.load(tmp_path / "model", env=point_reach(), **kwargs)
        with pytest.raises(ValueError, match=match):
            model.learn(10)


def test_set_env_with_another_number_of_envs_is_a_clear_error() -> None:
    model = small_sacx(point_reach())
    with pytest.raises(ValueError, match=r"SACX\.load"):
        model.set_env(make_vec_env(lambda: point_reach(), n_envs=2))
    with pytest.raises(AssertionError):  # what SB3's own test_set_env expects of SAC
        model.set_env(make_vec_env(lambda: point_reach(), n_envs=2))


def test_a_replay_buffer_of_another_task_set_is_refused_and_the_models_own_kept(tmp_path) -> None:
    three_tasks = AuxRewardWrapper(PointReach(), {"right": go_right, "zero": zero})
    small_sacx(three_tasks).learn(60).save_replay_buffer(tmp_path / "three_tasks")
    model = small_sacx(point_reach()).learn(60)
    own_buffer = model.replay_buffer
    with pytest.raises(ValueError, match="3 tasks"):
        model.load_replay_buffer(tmp_path / "three_tasks")
    assert model.replay_buffer is own_buffer
    model.learn(60, reset_num_timesteps=False)


def test_defaults_learn_from_the_start_of_a_short_run_as_sac_does() -> None:
    model = SACX("MlpPolicy", point_reach(), seed=0, policy_kwargs=dict(net_arch=[16, 16]))
    assert model.learning_starts == SAC("MlpPolicy", "Pendulum-v1").learning_starts == 100
    model.learn(300)
    assert model._n_updates == 200


@pytest.mark.parametrize("settings", [dict(), dict(retrace_steps=1), dict(retrace_lambda=0.0)])
def test_sb3s_dense_identity_task_is_learned_in_sacs_budget(settings: dict) -> None:
    # SB3's test_identity.py::test_continuous with SACX in SAC's place: its defaults, and one-step targets
    env = AuxRewardWrapper(IdentityEnvBox(eps=0.5), {"zero": zero})
    kwargs = dict(policy_kwargs=dict(net_arch=[64, 64]), seed=0, gamma=0.95, learning_rate=1e-3)
    model = SACX("MlpPolicy", env, **kwargs, **settings).learn(400)
    evaluate_policy(model, env, n_eval_episodes=20, reward_threshold=90, warn=False)


@pytest.mark.parametrize(
    ("env_id", "learning_starts"),
    [("SparseLunarLanderContinuous-v0", 10_000), ("SparseLunarLander-v0", 10_000), ("SparseMountainCarContinuous-v0", 100)],
)
def test_auto_main_reward_scale_finds_every_registered_sparse_env_sparse(env_id: str, learning_starts: int) -> None:
    # Each with the warm-up its example, zoo entry and benchmark use: the scale is decided at the first gradient step
    model = SACX("MlpPolicy", env_id, learning_starts=learning_starts, batch_size=16, buffer_size=2 * learning_starts, seed=0)
    model.learn(learning_starts + 1)
    assert model.effective_main_reward_scale == pytest.approx(1.0 / (1.0 - model.gamma))


def test_auto_main_reward_scale_helps_a_sparse_reward_only_and_is_kept_by_save_load(tmp_path) -> None:
    sparse = small_sacx(point_reach(), gamma=0.9)
    assert sparse.effective_main_reward_scale is None  # undecided until the first gradient step; reading decides nothing
    sparse.learn(60)
    assert sparse.replay_buffer.rewarded_fraction() <= 0.1
    assert sparse.effective_main_reward_scale == pytest.approx(10.0)  # 1 / (1 - gamma)
    # IdentityEnvBox rewards 1 within 0.5 of the target: ~44 % of random actions
    dense = small_sacx(AuxRewardWrapper(IdentityEnvBox(eps=0.5), {"zero": zero}), gamma=0.9)
    dense.learn(60)  # shorter than an episode: nothing is dumped, the logger still holds the values
    assert dense.replay_buffer.rewarded_fraction() > 0.1
    assert dense.effective_main_reward_scale == 1.0
    assert dense.logger.name_to_value["train/main_reward_scale"] == 1.0
    # Decided once: a loaded model keeps its scale, whatever its new buffer holds
    dense.save(tmp_path / "dense")
    loaded = SACX.load(tmp_path / "dense", env=AuxRewardWrapper(PointReach(), {"zero": zero}))
    loaded.learn(60)
    assert loaded.effective_main_reward_scale == 1.0


def test_set_env_checks_the_tasks() -> None:
    model = small_sacx(point_reach())
    with pytest.raises(ValueError, match="tasks"):
        model.set_env(AuxRewardWrapper(point_reach().env, {"left": zero}))


BFLOAT16_EMULATED = pytest.mark.skipif(
    not native_bfloat16("cpu"),
    reason="this CPU emulates bfloat16 (no AVX512-BF16 or AMX): a learning run is many times slower",
)


@pytest.mark.parametrize(
    ("discrete", "mixed_precision"), [(False, False), (True, False), pytest.param(False, True, marks=BFLOAT16_EMULATED)]
)
def test_learns_a_sparse_task_that_random_actions_rarely_solve(discrete: bool, mixed_precision: bool) -> None:
    """
    SAC-X's point: the auxiliary intention ("right") is easy to learn and, scheduled half the time, reaches the
    sparse goal; the main head learns from those transitions. Broken actor, critic or Retrace updates fail this.
    """
    env = point_reach(discrete)
    model = SACX(
        "MlpPolicy",
        env,
        learning_starts=500,
        batch_size=64,
        retrace_steps=4,
        schedule_period=30,
        buffer_size=10_000,
        policy_kwargs=dict(net_arch=[64, 64]),
        mixed_precision=mixed_precision,
        seed=1,
    )
    random_success = evaluate_success(env, lambda obs: env.action_space.sample(), n_episodes=200)
    model.learn(3_000)
    main_success = evaluate_success(env, lambda obs: model.predict(obs, deterministic=True)[0], n_episodes=20)
    print(f"main head success {main_success:.2f} against random {random_success:.2f}")
    assert random_success < 0.2
    assert main_success >= 0.9


def evaluate_success(env: gym.Env, policy, n_episodes: int) -> float:
    env.action_space.seed(0)
    successes = 0
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=episode)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy(obs))
            done = terminated or truncated
        successes += info["is_success"]
    return successes / n_episodes


@pytest.mark.parametrize("discrete", [False, True])
def test_mixed_precision_trains_in_bfloat16_and_survives_save_load(tmp_path, discrete: bool) -> None:
    def trained(mixed_precision: bool) -> SACX:
        model = small_sacx(point_reach(discrete), mixed_precision=mixed_precision)
        return model.learn(200)

    full, mixed = trained(False), trained(True)
    full_weights = th.nn.utils.parameters_to_vector(full.policy.parameters())
    mixed_weights = th.nn.utils.parameters_to_vector(mixed.policy.parameters())
    # Same seed and data: the weights differ only by the bfloat16 rounding of the gradient steps' matrix multiplies
    assert mixed_weights.dtype == th.float32 and th.isfinite(mixed_weights).all()
    assert not th.equal(full_weights, mixed_weights)
    th.testing.assert_close(mixed_weights, full_weights, rtol=0.0, atol=0.05)
    mixed.save(tmp_path / "model")
    assert SACX.load(tmp_path / "model").mixed_precision is True


@pytest.mark.parametrize("native", [False, True])
def test_auto_mixed_precision_uses_bfloat16_only_where_it_is_native(monkeypatch, native: bool, capsys) -> None:
    monkeypatch.setattr("sb3_sacx.hardware.native_bfloat16", lambda device: native)
    model = small_sacx(point_reach(), verbose=1, mixed_precision="auto")
    assert model._hardware.bfloat16 is native
    assert ("bfloat16 matrix multiplies" if native else "float32 matrix multiplies") in capsys.readouterr().out
    dtypes = []
    model.critic.q_net.register_forward_hook(lambda module, inputs, output: dtypes.append(th.get_autocast_dtype("cpu")))
    model.critic.q_net.register_forward_hook(lambda *_: dtypes.append(th.is_autocast_enabled("cpu")))
    model.learn(80)
    assert dtypes and all(enabled is native for enabled in dtypes[1::2])


@pytest.mark.parametrize("native", [False, True])
def test_default_precision_is_float32_on_every_cpu(monkeypatch, native: bool) -> None:
    """The defaults compute the same update everywhere: bfloat16, a speed-up on some CPUs only, is asked for."""
    monkeypatch.setattr("sb3_sacx.hardware.native_bfloat16", lambda device: native)
    assert small_sacx(point_reach())._hardware.bfloat16 is False


def test_mixed_precision_true_warns_where_bfloat16_is_emulated(monkeypatch) -> None:
    monkeypatch.setattr("sb3_sacx.hardware.native_bfloat16", lambda device: False)
    with pytest.warns(UserWarning, match="emulated"):
        model = small_sacx(point_reach(), mixed_precision=True)
    assert model._hardware.bfloat16 is True  # asked for explicitly: the user gets it


def test_task_returns_and_temperatures_are_read_only_properties() -> None:
    model = small_sacx(point_reach(), stats_window_size=5).learn(300)
    returns = model.task_returns
    # The last five 30-step episodes (or shorter, at the goal), per task: the main return is 0 or 1
    assert returns.shape == (5, 2) and set(returns[:, 0]) <= {0.0, 1.0} and (returns[:, 1] >= 0).all()
    assert model.ent_coefs.shape == (2,) and not model.ent_coefs.requires_grad
    with pytest.raises(AttributeError):
        model.task_returns = returns
    assert small_sacx(point_reach()).task_returns.shape == (0, 2)  # before any episode
