"""SAC-X (Riedmiller et al., 2018, "Learning by Playing") as a Stable-Baselines3 algorithm."""

from sb3_sacx import tasks  # noqa: F401  (registers the sparse LunarLander and MountainCar environments)
from sb3_sacx.sacx import SACX
from sb3_sacx.schedulers import QScheduler, Scheduler, UniformScheduler
from sb3_sacx.wrappers import AuxRewardWrapper

__version__ = "0.1.0"

__all__ = ["SACX", "AuxRewardWrapper", "QScheduler", "Scheduler", "UniformScheduler", "__version__"]
