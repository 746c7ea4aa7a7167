"""
Registration of SACX in rl-zoo3.

Importing this module imports rl-zoo3, which replaces gymnasium's ``TimeLimit`` for the whole process:
only the ``python -m sb3_sacx.zoo`` entry point imports it, never ``import sb3_sacx``.
"""

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import rl_zoo3.train
import yaml
from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
from rl_zoo3.utils import ALGOS
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from sb3_sacx import SACX
from sb3_sacx.zoo.hyperparams_opt import ALGO_NAME, _as_dict, convert_sacx_params, pinned_keys, sample_sacx_params


class SACXExperimentManager(ExperimentManager):
    """
    rl-zoo3's :class:`~rl_zoo3.exp_manager.ExperimentManager`, with what SACX needs on top; unchanged for other algorithms.

    - During ``-optimize``, rl-zoo3 applies the sampled hyperparameters with a shallow ``dict.update``
      over the configured ones, so a sampled ``policy_kwargs`` would silently drop the config's other
      policy keyword arguments. The SACX sampler is therefore given the configured hyperparameters to
      merge into, and it leaves alone what was pinned with ``-params``.
    - The same merge for hyperparameters loaded from a study with ``--trial-id``.
    - ``scheduler_kwargs`` may be written as a Python expression string, like ``policy_kwargs``.
    """

    def setup_experiment(self) -> Optional[tuple[BaseAlgorithm, dict[str, Any]]]:
        """
        Read and pre-process the hyperparameters, create the env and, unless optimizing, the model.

        :return: The model and the hyperparameters to save, or ``None`` when optimizing.
        """
        result = super().setup_experiment()
        if self.algo == ALGO_NAME:
            # rl-zoo3 looks the sampler up by name in objective(); this run's one knows the configured values
            HYPERPARAMS_SAMPLER[self.algo] = functools.partial(
                sample_sacx_params,
                base_hyperparams=dict(self._hyperparams),
                fixed=pinned_keys(self.custom_hyperparams),
            )
        return result

    def load_trial(
        self, storage: str, study_name: str, trial_id: Optional[int] = None, convert: bool = True
    ) -> dict[str, Any]:
        """
        Hyperparameters of a trial (or the best one) of an Optuna study.

        :param storage: Optuna storage (an RDB URL, or a ``.log`` journal file).
        :param study_name: Name of the study.
        :param trial_id: Number of the trial; the best trial if ``None``.
        :param convert: Whether to convert the raw trial parameters into constructor arguments.
        :return: The hyperparameters, for SACX with ``policy_kwargs``/``scheduler_kwargs`` merged into the config's.
        """
        if self.algo != ALGO_NAME or not convert:
            return super().load_trial(storage, study_name, trial_id, convert)
        params = super().load_trial(storage, study_name, trial_id, convert=False)
        return convert_sacx_params(params, self._config_entry())

    def _config_entry(self) -> dict[str, Any]:
        """
        This env's entry of a YAML config file (``{}`` for other kinds of config), for merging.

        :return: The entry, its ``*_kwargs`` strings evaluated.
        """
        if not self.config.endswith((".yml", ".yaml")):
            return {}
        entries = yaml.safe_load(Path(self.config).read_text()) or {}
        entry = dict(entries.get(self.env_name.gym_id, entries.get("default", {})))
        for key in ("policy_kwargs", "scheduler_kwargs"):
            if key in entry:
                entry[key] = dict(_as_dict(entry[key], key))
        return entry

    def _preprocess_hyperparams(
        self, hyperparams: dict[str, Any]
    ) -> tuple[dict[str, Any], Optional[Callable], list[BaseCallback], Optional[Callable]]:
        """
        rl-zoo3's pre-processing, plus ``scheduler_kwargs`` given as a Python expression string.

        :param hyperparams: Hyperparameters read from the config file and the command line.
        :return: Hyperparameters for the constructor, env wrapper, callbacks and VecEnv wrapper.
        """
        if isinstance(hyperparams.get("scheduler_kwargs"), str):
            hyperparams["scheduler_kwargs"] = dict(_as_dict(hyperparams["scheduler_kwargs"], "scheduler_kwargs"))
        return super()._preprocess_hyperparams(hyperparams)


def register_sacx() -> None:
    """
    Add SACX to rl-zoo3: its algorithm table, Optuna sampler and converter, and the experiment manager.

    The tables are shared dicts, updated in place, so that every rl-zoo3 module that imported them by
    value (``train``, ``enjoy``, ``exp_manager``, ``record_video``, ...) sees ``sacx``. Idempotent.
    """
    ALGOS[ALGO_NAME] = SACX
    HYPERPARAMS_SAMPLER[ALGO_NAME] = sample_sacx_params
    HYPERPARAMS_CONVERTER[ALGO_NAME] = convert_sacx_params
    # train() looks the class up in its own module namespace
    rl_zoo3.train.ExperimentManager = SACXExperimentManager  # type: ignore[misc]
