"""
Results that cannot be lost: checkpoints written whole or not at all (``sb3_sacx.checkpoints``), and the learning
benchmark killed (SIGKILL, from inside the process at a chosen write) and resumed.
"""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest
from scripts import BENCHMARKS
from toy_envs import point_reach

from sb3_sacx import SACX
from sb3_sacx.checkpoints import MODEL_FILE, RECORD_FILE, checkpoint_record, restore_checkpoint, save_checkpoint, save_model

TINY_SACX = {"learning_starts": 50, "batch_size": 16, "retrace_steps": 4, "buffer_size": 1_000}


def trained(steps: int) -> SACX:
    return SACX("MlpPolicy", point_reach(), seed=0, **TINY_SACX).learn(steps)


def test_a_checkpoint_round_trip_keeps_model_buffer_and_record(tmp_path: Path) -> None:
    model = trained(60)
    save_checkpoint(model, tmp_path / "run", {"seed": 0})
    assert restore_checkpoint(tmp_path / "run") == {"seed": 0, "num_timesteps": 60}
    loaded = SACX.load(tmp_path / "run" / MODEL_FILE)
    loaded.load_replay_buffer(tmp_path / "run" / "replay_buffer.pkl")
    assert loaded.num_timesteps == 60 and loaded.replay_buffer.size() == 60
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run"]  # nothing left beside it


def test_an_interrupted_save_leaves_the_last_complete_checkpoint(tmp_path: Path) -> None:
    directory = tmp_path / "run"
    assert restore_checkpoint(directory) is None and checkpoint_record(directory) is None
    save_checkpoint(trained(60), directory, {"at": "first"})
    # Killed while writing the new one: a partial directory, which is never complete
    partial = tmp_path / "run.partial"
    partial.mkdir()
    (partial / MODEL_FILE).write_bytes(b"half a zip")
    assert restore_checkpoint(directory)["at"] == "first" and not partial.exists()
    # Killed after the old one was moved aside, before the new one took its place
    directory.rename(tmp_path / "run.previous")
    assert checkpoint_record(directory)["at"] == "first"  # read-only: the previous one is still found
    assert restore_checkpoint(directory)["at"] == "first" and (directory / RECORD_FILE).is_file()
    # Killed after the new one took its place, before the old one was removed
    shutil.copytree(directory, tmp_path / "run.previous")
    save_checkpoint(trained(80), directory, {"at": "second"})
    assert restore_checkpoint(directory) == {"at": "second", "num_timesteps": 80}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run"]


# The benchmark in a subprocess that SIGKILLs itself at the n-th call of a function: a stop at that exact point
KILLER = """
import os, signal, sys
sys.path.insert(0, {benchmarks!r})  # as for `python benchmarks/sparse_lunar_lander.py`
import common
import sparse_lunar_lander as benchmark
owner = {owner}
original = getattr(owner, {attribute!r})
calls = []

def killing(*args, **kwargs):
    calls.append(1)
    if len(calls) == {nth}:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args, **kwargs)

setattr(owner, {attribute!r}, killing)
sys.argv = ["sparse_lunar_lander.py", *{argv!r}]
benchmark.main()
"""


def benchmark_args(tmp_path: Path, seed: int = 3, **sacx_kwargs: object) -> list[str]:
    return [
        "--algo", "sacx", "--env", "mountaincar", "--seed", str(seed), "--steps", "150", "--eval-every", "50",
        "--eval-episodes", "1", "--head-episodes", "0", "--variant", "tiny", "--sacx-kwargs",
        json.dumps({**TINY_SACX, **sacx_kwargs}),
        "--checkpoint-dir", str(tmp_path / "checkpoints"), "--results-dir", str(tmp_path / "results"),
    ]  # fmt: skip


def run_benchmark(argv: list[str], killed_at: Optional[tuple[str, str, int]] = None) -> subprocess.CompletedProcess:
    if killed_at:
        owner, attribute, nth = killed_at
        program = KILLER.format(benchmarks=str(BENCHMARKS), owner=owner, attribute=attribute, nth=nth, argv=argv)
        command = [sys.executable, "-c", program]
    else:
        command = [sys.executable, str(BENCHMARKS / "sparse_lunar_lander.py"), *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def csv_rows(tmp_path: Path, seed: int = 3) -> list[dict[str, str]]:
    with open(tmp_path / "results" / "mountaincar" / "tiny" / f"seed{seed}.csv") as file:
        return list(csv.DictReader(file))


@pytest.mark.parametrize(
    "killed_at",
    [
        # half-way through the second checkpoint: its model written, its replay buffer not
        ("benchmark.SACX", "save_replay_buffer", 2),
        # the second checkpoint complete, its row not yet in the CSV
        ("benchmark", "append_row", 2),
        # half-way through writing the CSV with the second row (a temporary file with the header only)
        ("common.csv.DictWriter", "writerows", 2),
    ],
)
def test_a_killed_benchmark_resumes_with_every_row_once(tmp_path: Path, killed_at: tuple[str, str, int]) -> None:
    killed = run_benchmark(benchmark_args(tmp_path), killed_at)
    assert killed.returncode == -9, killed.stderr  # SIGKILL
    resumed = run_benchmark(benchmark_args(tmp_path))
    assert resumed.returncode == 0, resumed.stderr
    rows = csv_rows(tmp_path)
    assert [int(row["steps"]) for row in rows] == [50, 100, 150]
    assert all(row["cpu"] and 0.0 <= float(row["success_rate"]) <= 1.0 for row in rows)
    wall_times = [float(row["wall_time_s"]) for row in rows]
    assert wall_times == sorted(wall_times)
    checkpoint = tmp_path / "checkpoints" / "mountaincar" / "tiny" / "seed3"
    assert SACX.load(checkpoint / MODEL_FILE).num_timesteps == 150
    assert sorted(path.name for path in checkpoint.parent.iterdir()) == ["seed3"]


def test_a_resumed_run_refuses_another_runs_checkpoint(tmp_path: Path) -> None:
    finished = run_benchmark([*benchmark_args(tmp_path), "--steps", "50"])
    assert finished.returncode == 0, finished.stderr
    # Other settings under the same run name
    other_settings = run_benchmark(benchmark_args(tmp_path, schedule_period=7))
    assert other_settings.returncode == 2 and "belongs to another run" in other_settings.stderr
    assert "sacx_kwargs" in other_settings.stderr
    # Another seed's checkpoint copied in place of this seed's
    checkpoints = tmp_path / "checkpoints" / "mountaincar" / "tiny"
    shutil.copytree(checkpoints / "seed3", checkpoints / "seed4")
    other_seed = run_benchmark(benchmark_args(tmp_path, seed=4))
    assert other_seed.returncode == 2 and "seed 3 there, 4 here" in other_seed.stderr
    # Nothing was trained or written by the refused runs
    assert [int(row["steps"]) for row in csv_rows(tmp_path)] == [50]
    assert not (tmp_path / "results" / "mountaincar" / "tiny" / "seed4.csv").exists()


def test_a_model_file_is_replaced_only_once_the_new_one_is_written(tmp_path: Path, monkeypatch) -> None:
    model = trained(60)
    assert save_model(model, tmp_path / "model") == tmp_path / "model.zip"
    before = (tmp_path / "model.zip").read_bytes()

    def interrupted(path, *args, **kwargs) -> None:
        Path(path).write_bytes(b"half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, tmp_path / "model.zip")
    assert (tmp_path / "model.zip").read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.zip"]
    assert SACX.load(tmp_path / "model.zip").num_timesteps == 60
