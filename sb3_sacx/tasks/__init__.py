"""Environments with SAC-X auxiliary tasks; importing this module registers their gymnasium ids."""

from gymnasium.envs.registration import register, registry

from sb3_sacx.tasks.lunar_lander import (
    LUNAR_LANDER_TASKS,
    SparseLandingWrapper,
    box2d_leg_contacts,
    engines_off,
    heuristic_action,
    land_on_pad,
    make_sparse_lunar_lander,
)
from sb3_sacx.tasks.mountain_car import (
    MOUNTAIN_CAR_TASKS,
    SparseFlagWrapper,
    energy_pumping_action,
    make_sparse_mountain_car,
)

#: Registered id -> whether its actions are continuous.
SPARSE_LUNAR_LANDER_IDS = {"SparseLunarLander-v0": False, "SparseLunarLanderContinuous-v0": True}
#: Registered id of the sparse MountainCar.
SPARSE_MOUNTAIN_CAR_ID = "SparseMountainCarContinuous-v0"


def _register(env_id: str, entry_point: str, max_episode_steps: int, **kwargs: bool) -> None:
    """
    Register ``env_id`` unless it already is.

    Guarded: the module may be imported again (e.g. reloaded, or by gym.make("sb3_sacx:...") in a worker that already
    has it), and gymnasium warns when an id is registered twice.

    :param env_id: The gymnasium id.
    :param entry_point: ``"module:factory"`` that builds the env.
    :param max_episode_steps: The time limit ``gym.make`` adds.
    :param kwargs: Passed on to the factory.
    """
    if env_id not in registry:
        register(id=env_id, entry_point=entry_point, max_episode_steps=max_episode_steps, kwargs=kwargs)


def _register_envs() -> None:
    for env_id, continuous in SPARSE_LUNAR_LANDER_IDS.items():
        _register(env_id, "sb3_sacx.tasks.lunar_lander:make_sparse_lunar_lander", 1000, continuous=continuous)
    # gymnasium's own time limit for MountainCarContinuous-v0
    _register(SPARSE_MOUNTAIN_CAR_ID, "sb3_sacx.tasks.mountain_car:make_sparse_mountain_car", 999)


_register_envs()

__all__ = [
    "LUNAR_LANDER_TASKS",
    "MOUNTAIN_CAR_TASKS",
    "SPARSE_LUNAR_LANDER_IDS",
    "SPARSE_MOUNTAIN_CAR_ID",
    "SparseFlagWrapper",
    "SparseLandingWrapper",
    "box2d_leg_contacts",
    "energy_pumping_action",
    "engines_off",
    "heuristic_action",
    "land_on_pad",
    "make_sparse_lunar_lander",
    "make_sparse_mountain_car",
]
