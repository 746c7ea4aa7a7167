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

#: Registered id -> whether its actions are continuous.
SPARSE_LUNAR_LANDER_IDS = {"SparseLunarLander-v0": False, "SparseLunarLanderContinuous-v0": True}


def _register_envs() -> None:
    # Guarded: the module may be imported again (e.g. reloaded, or by gym.make("sb3_sacx:...") in a
    # worker that already has it), and gymnasium warns when an id is registered twice
    for env_id, continuous in SPARSE_LUNAR_LANDER_IDS.items():
        if env_id not in registry:
            register(
                id=env_id,
                entry_point="sb3_sacx.tasks.lunar_lander:make_sparse_lunar_lander",
                max_episode_steps=1000,
                kwargs={"continuous": continuous},
            )


_register_envs()

__all__ = [
    "LUNAR_LANDER_TASKS",
    "SPARSE_LUNAR_LANDER_IDS",
    "SparseLandingWrapper",
    "box2d_leg_contacts",
    "engines_off",
    "heuristic_action",
    "land_on_pad",
    "make_sparse_lunar_lander",
]
