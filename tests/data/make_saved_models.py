"""
Write the saved models that ``tests/test_saved_models.py`` loads: SACX models as a released version saved them, so that
a later version is checked to load them (and act as they acted). Run from the repository root, with the version to
record checked out:

    python tests/data/make_saved_models.py

It writes ``tests/data/sacx_<box|discrete>.zip`` and ``tests/data/saved_models.json`` (the commit, and each model's
deterministic actions on fixed observations, per head).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent
sys.path.insert(0, str(DATA.parent))  # tests/, for the toy env

from toy_envs import point_reach  # noqa: E402

from sb3_sacx import SACX  # noqa: E402

#: Observations on which the saved models' actions are recorded.
OBSERVATIONS = [[-0.5], [0.0], [0.3], [0.7]]


def main() -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout
    record = {"commit": commit.strip(), "models": {}}
    for kind in ("box", "discrete"):
        model = SACX(
            "MlpPolicy",
            point_reach(discrete=kind == "discrete"),
            learning_starts=50,
            batch_size=16,
            retrace_steps=4,
            buffer_size=1_000,
            scheduler="sac-q",
            scheduler_kwargs=dict(min_main_probability=0.25),
            policy_kwargs=dict(net_arch=[16, 16]),
            seed=0,
        ).learn(300)
        model.save(DATA / f"sacx_{kind}.zip")
        observations = np.array(OBSERVATIONS, dtype=np.float32)
        record["models"][kind] = {
            "num_timesteps": model.num_timesteps,
            "task_names": list(model.task_names),
            "scheduler_probabilities": model.scheduler.probabilities().tolist(),
            "actions": {
                name: model.predict(observations, deterministic=True, task=name)[0].tolist() for name in model.task_names
            },
        }
    (DATA / "saved_models.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
