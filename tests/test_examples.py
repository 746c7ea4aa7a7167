"""The README's main job on a tiny budget: it reports its evaluations, checkpoints, and resumes where it stopped."""

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[1] / "examples"


def train(tmp_path: Path, timesteps: int) -> str:
    command = [
        sys.executable, str(EXAMPLES / "train_lunar_lander.py"), "--timesteps", str(timesteps), "--eval-freq", "150",
        "--eval-episodes", "1", "--checkpoint-dir", str(tmp_path / "checkpoint"), "--save-path", str(tmp_path / "model"),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_main_job_checkpoints_at_each_evaluation_and_resumes(tmp_path: Path) -> None:
    first = train(tmp_path, 300)
    assert "training SACX on SparseLunarLanderContinuous-v0" in first
    assert "    150 steps" in first and "    300 steps" in first
    progress = json.loads((tmp_path / "checkpoint" / "progress.json").read_text())
    assert progress["steps"] == 300 and progress["trained_seconds"] > 0
    # The CPU named beside the time, as SPEC section 7 asks of the time to a landing agent
    assert "CPU: " in first and "AVX2" in progress["cpu"]
    resumed = train(tmp_path, 450)
    assert "resuming from" in resumed and "300 steps" in resumed
    assert "    450 steps" in resumed and "    150 steps" not in resumed
    resumed_progress = json.loads((tmp_path / "checkpoint" / "progress.json").read_text())
    assert resumed_progress["steps"] == 450 and resumed_progress["trained_seconds"] > progress["trained_seconds"]
    assert (tmp_path / "model.zip").exists()
