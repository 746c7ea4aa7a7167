"""
Sparse-reward LunarLander with the five auxiliary tasks of SAC-X's seed.

Observation: ``[x, y, vx, vy, angle, angular_velocity, leg0_contact, leg1_contact]``; the pad is at
``x`` in [-0.2, 0.2], ``y = 0``. The two leg flags are read from Box2D after every step, because
gymnasium's own flags go stale when a leg slides from one ground edge onto the next.
"""

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Optional, SupportsFloat, Union

import gymnasium as gym
import numpy as np
from gymnasium.envs.box2d.lunar_lander import LunarLander, heuristic

from sb3_sacx.wrappers import AuxRewardWrapper, AuxTaskFn

#: Half-width of the landing pad, in observation units of x.
PAD_HALF_WIDTH = 0.2

# Indices into the observation vector
_X, _Y, _VX, _VY, _ANGLE, _ANGULAR_VELOCITY, _LEG0, _LEG1 = range(8)


def box2d_leg_contacts(env: gym.Env) -> np.ndarray:
    """
    Whether each leg touches the ground, read from Box2D's contact list rather than gymnasium's flags.

    :param env: A LunarLander env, possibly wrapped.
    :return: float32 array of shape (2,), 1.0 where the leg touches.
    """
    legs = env.unwrapped.legs  # type: ignore[attr-defined]
    return np.array([float(any(edge.contact.touching for edge in leg.contacts)) for leg in legs], dtype=np.float32)


def _over_pad(obs: np.ndarray) -> bool:
    """
    Whether the lander is over the pad: ``|x| <= 0.2``, compared in the observation's dtype, so that the success check
    and ``land_on_pad`` agree on the pad's edge.

    :param obs: An observation of the sparse LunarLander.
    :return: True over the pad.
    """
    return bool(abs(obs[_X]) <= PAD_HALF_WIDTH)


def _at_rest(env: gym.Env, terminated: bool, obs: np.ndarray) -> bool:
    """
    Whether the step ended the episode with the lander at rest (not a crash, not off screen).

    :param env: The LunarLander env, possibly wrapped.
    :param terminated: The step's ``terminated`` flag.
    :param obs: The step's observation.
    :return: True when the episode ended because the Box2D body fell asleep on the ground.
    """
    lunar: Any = env.unwrapped
    return bool(terminated and not lunar.lander.awake and not lunar.game_over and abs(obs[_X]) < 1.0)


class SparseLandingWrapper(gym.Wrapper):
    """
    Replace LunarLander's dense reward with the sparse SAC-X main reward.

    Reward is 1.0 on the step the lander lands successfully (the episode terminates with the lander
    at rest, ``|x| <= 0.2`` and both legs touching according to Box2D) and 0.0 on every other step.
    ``info`` gains, on every step: ``dense_reward`` (gymnasium's reward), ``leg_contacts`` (Box2D),
    ``is_success`` (True only on the landing step) and ``aux_absorbing`` (True on a step that ends the
    episode at rest). ``leg_contacts`` is also written into observation entries 6 and 7.

    :param env: A LunarLander env (``continuous`` either way), possibly wrapped.
    """

    def __init__(self, env: gym.Env) -> None:
        if not isinstance(env.unwrapped, LunarLander):
            raise TypeError(f"SparseLandingWrapper needs a LunarLander env, got {type(env.unwrapped).__name__}")
        super().__init__(env)

    def reset(
        self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """
        Reset the env and write Box2D leg contacts into the observation and ``info``.

        :param seed: Seed for the wrapped env.
        :param options: Options for the wrapped env.
        :return: ``(obs, info)``.
        """
        obs, info = self.env.reset(seed=seed, options=options)
        contacts = box2d_leg_contacts(self.env)
        return self._with_contacts(obs, contacts), {**info, "leg_contacts": contacts}

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """
        Step the env and replace its reward with the sparse landing reward.

        :param action: Action for the wrapped env.
        :return: ``(obs, sparse_reward, terminated, truncated, info)``.
        """
        obs, dense_reward, terminated, truncated, info = self.env.step(action)
        contacts = box2d_leg_contacts(self.env)
        obs = self._with_contacts(obs, contacts)
        at_rest = _at_rest(self.env, terminated, obs)
        success = bool(at_rest and _over_pad(obs) and np.all(contacts == 1.0))
        info = {
            **info,
            "dense_reward": float(dense_reward),
            "leg_contacts": contacts,
            # Set on every step: the outer TimeLimit may truncate the episode, and only then would a
            # last-step-only key be missing where SB3 reads it
            "is_success": success,
            "aux_absorbing": at_rest,
        }
        return obs, 1.0 if success else 0.0, terminated, truncated, info

    @staticmethod
    def _with_contacts(obs: np.ndarray, contacts: np.ndarray) -> np.ndarray:
        # A copy, so the array the inner env returned is never modified behind its back
        obs = np.array(obs, dtype=np.float32)
        obs[_LEG0 : _LEG1 + 1] = contacts
        return obs


def _shaping_to_unit(shaping: float) -> float:
    """
    Map the seed's shaping term (at most 2 when fully satisfied) to a reward in [0, 1].

    :param shaping: The seed's shaping value.
    :return: ``clip(shaping / 2, 0, 1)``.
    """
    return float(np.clip(shaping / 2.0, 0.0, 1.0))


def touch(obs: np.ndarray, action: Any, next_obs: np.ndarray, info: dict[str, Any]) -> float:
    """
    Legs on the ground: ``(leg0 + leg1) / 2`` from ``info["leg_contacts"]`` (Box2D).

    :param obs: Observation before the step (unused).
    :param action: Action taken (unused).
    :param next_obs: Observation after the step (unused).
    :param info: Step info; must contain ``leg_contacts`` (see :class:`SparseLandingWrapper`).
    :return: Reward in [0, 1].
    """
    if "leg_contacts" not in info:
        raise KeyError("The touch task needs info['leg_contacts']: wrap the LunarLander env in SparseLandingWrapper")
    contacts = info["leg_contacts"]
    return _shaping_to_unit(float(contacts[0]) + float(contacts[1]))


def hover_planar(obs: np.ndarray, action: Any, next_obs: np.ndarray, info: dict[str, Any]) -> float:
    """
    No planar motion: ``(2 - (|vx| + |vy|)) / 2``, clipped to [0, 1].

    :param obs: Observation before the step (unused).
    :param action: Action taken (unused).
    :param next_obs: Observation after the step.
    :param info: Step info (unused).
    :return: Reward in [0, 1].
    """
    return _shaping_to_unit(2.0 - (abs(float(next_obs[_VX])) + abs(float(next_obs[_VY]))))


def hover_angular(obs: np.ndarray, action: Any, next_obs: np.ndarray, info: dict[str, Any]) -> float:
    """
    No rotation: ``(2 - |angular_velocity|) / 2``, clipped to [0, 1].

    :param obs: Observation before the step (unused).
    :param action: Action taken (unused).
    :param next_obs: Observation after the step.
    :param info: Step info (unused).
    :return: Reward in [0, 1].
    """
    return _shaping_to_unit(2.0 - abs(float(next_obs[_ANGULAR_VELOCITY])))


def upright(obs: np.ndarray, action: Any, next_obs: np.ndarray, info: dict[str, Any]) -> float:
    """
    Body level: ``(2 - |angle|) / 2``, clipped to [0, 1].

    :param obs: Observation before the step (unused).
    :param action: Action taken (unused).
    :param next_obs: Observation after the step.
    :param info: Step info (unused).
    :return: Reward in [0, 1].
    """
    return _shaping_to_unit(2.0 - abs(float(next_obs[_ANGLE])))


def goal_distance(obs: np.ndarray, action: Any, next_obs: np.ndarray, info: dict[str, Any]) -> float:
    """
    Close to the pad centre: ``(2 - (|x| + |y|)) / 2``, clipped to [0, 1].

    :param obs: Observation before the step (unused).
    :param action: Action taken (unused).
    :param next_obs: Observation after the step.
    :param info: Step info (unused).
    :return: Reward in [0, 1].
    """
    return _shaping_to_unit(2.0 - (abs(float(next_obs[_X])) + abs(float(next_obs[_Y]))))


def engines_off(action: Any) -> bool:
    """
    Whether an action fires no engine, as gymnasium's LunarLander reads it.

    :param action: An ``int`` (Discrete: 0 is "do nothing") or an array of shape (2,) (Box: the main engine fires
        above 0, the side engines when ``|action[1]| > 0.5``).
    :return: True when no engine fires.
    """
    if np.ndim(action) == 0:
        return int(action) == 0
    main_engine, side_engines = np.asarray(action, dtype=np.float64).reshape(-1)
    return bool(main_engine <= 0.0 and abs(side_engines) <= 0.5)


def land_on_pad(obs: np.ndarray, action: Any, next_obs: np.ndarray, info: dict[str, Any]) -> float:
    """
    Legs on the ground on the pad, engines off: ``touch`` when ``|x| <= 0.2`` and no engine fired, else 0.

    Not one of the seed's five tasks (``LUNAR_LANDER_TASKS``): an intention that leads to the sparse event,
    to add with ``make_sparse_lunar_lander(aux_tasks={**LUNAR_LANDER_TASKS, "land_on_pad":
    land_on_pad})``. Unlike ``goal_distance``, hovering over the pad earns nothing, and unlike ``touch``, landing
    anywhere else earns nothing; with rest absorbing, coming to rest on the pad is worth ``1 / (1 - gamma)``.

    :param obs: Observation before the step (unused).
    :param action: Action taken (see :func:`engines_off`).
    :param next_obs: Observation after the step.
    :param info: Step info; must contain ``leg_contacts`` (see :class:`SparseLandingWrapper`).
    :return: Reward in [0, 1].
    """
    legs_down = touch(obs, action, next_obs, info)
    return legs_down if _over_pad(next_obs) and engines_off(action) else 0.0


#: The five auxiliary tasks, in the order of ``info["aux_rewards"]``.
LUNAR_LANDER_TASKS: "OrderedDict[str, AuxTaskFn]" = OrderedDict(
    [
        ("touch", touch),
        ("hover_planar", hover_planar),
        ("hover_angular", hover_angular),
        ("upright", upright),
        ("goal_distance", goal_distance),
    ]
)


def make_sparse_lunar_lander(
    continuous: bool = True, aux_tasks: Optional[Mapping[str, AuxTaskFn]] = None, **kwargs: Any
) -> AuxRewardWrapper:
    """
    Build the sparse LunarLander with its auxiliary tasks (no time limit: ``gym.make`` adds it).

    :param continuous: Box(2) actions if True, Discrete(4) otherwise.
    :param aux_tasks: the auxiliary tasks; ``None`` for the five of SAC-X's seed (``LUNAR_LANDER_TASKS``).
    :param kwargs: Passed on to gymnasium's ``LunarLander`` (e.g. ``gravity``, ``render_mode``).
    :return: ``AuxRewardWrapper(SparseLandingWrapper(LunarLander(...)), aux_tasks)``.
    """
    tasks = LUNAR_LANDER_TASKS if aux_tasks is None else aux_tasks
    return AuxRewardWrapper(SparseLandingWrapper(LunarLander(continuous=continuous, **kwargs)), tasks)


# Lets gym.make validate ``render_mode`` against LunarLander's modes, as for a class entry point
make_sparse_lunar_lander.metadata = LunarLander.metadata  # type: ignore[attr-defined]


def heuristic_action(env: gym.Env, obs: np.ndarray) -> Union[int, np.ndarray]:
    """
    gymnasium's hand-written LunarLander controller, as an action for ``env``'s action space.

    :param env: A LunarLander env, possibly wrapped.
    :param obs: The current observation (with Box2D leg contacts, the heuristic lands more often).
    :return: An ``int`` for the Discrete env, a float32 array of shape (2,) for the continuous one.
    """
    action = heuristic(env.unwrapped, obs)
    if isinstance(env.action_space, gym.spaces.Discrete):
        return int(action)
    return np.asarray(action, dtype=np.float32)
