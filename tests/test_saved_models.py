"""
Models saved by an earlier version (``tests/data``, written by ``tests/data/make_saved_models.py``) load, act as they
acted, keep their scheduler's state and go on learning: a refactor that moves a class a saved model names, or changes
what a loaded model computes, fails here.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from toy_envs import point_reach

from sb3_sacx import SACX, QScheduler

DATA = Path(__file__).parent / "data"
RECORD = json.loads((DATA / "saved_models.json").read_text())
OBSERVATIONS = np.array([[-0.5], [0.0], [0.3], [0.7]], dtype=np.float32)


@pytest.mark.parametrize("kind", ["box", "discrete"])
def test_a_model_saved_by_an_earlier_version_loads_acts_and_learns(kind: str) -> None:
    saved = RECORD["models"][kind]
    model = SACX.load(DATA / f"sacx_{kind}.zip", env=point_reach(discrete=kind == "discrete"))
    assert model.num_timesteps == saved["num_timesteps"] and list(model.task_names) == saved["task_names"]
    assert isinstance(model.scheduler, QScheduler) and model.scheduler.q_table
    np.testing.assert_allclose(model.scheduler.probabilities(), saved["scheduler_probabilities"], rtol=1e-12)
    for name, actions in saved["actions"].items():
        # float32 forward passes: CPUs may round the last bits differently
        np.testing.assert_allclose(model.predict(OBSERVATIONS, deterministic=True, task=name)[0], actions, atol=1e-5)
    model.learn(60, reset_num_timesteps=False)
    assert model.num_timesteps == saved["num_timesteps"] + 60
