"""
rl-zoo3 integration: ``python -m sb3_sacx.zoo train|enjoy|...`` runs rl-zoo3 with SACX registered.

Importing this package does not import rl-zoo3 (which patches gymnasium's ``TimeLimit`` when imported):
only running the entry point does. It holds what rl-zoo3 config files and Optuna refer to by name,
such as :func:`~sb3_sacx.zoo.wrappers.pendulum_aux_wrapper` (``env_wrapper: sb3_sacx.zoo.pendulum_aux_wrapper``).
"""

from sb3_sacx.zoo.cli import ZOO_INSTALL_COMMAND, default_conf_file, main, missing_rl_zoo_message
from sb3_sacx.zoo.hyperparams_opt import ALGO_NAME, NET_ARCH, convert_sacx_params, pinned_keys, sample_sacx_params
from sb3_sacx.zoo.wrappers import PENDULUM_TASKS, pendulum_aux_wrapper, pendulum_still, pendulum_upright

__all__ = [
    "ALGO_NAME",
    "NET_ARCH",
    "PENDULUM_TASKS",
    "ZOO_INSTALL_COMMAND",
    "convert_sacx_params",
    "default_conf_file",
    "main",
    "missing_rl_zoo_message",
    "pendulum_aux_wrapper",
    "pendulum_still",
    "pendulum_upright",
    "pinned_keys",
    "sample_sacx_params",
]
