"""The learning benchmark's scripts, on a tiny budget: a run, its resumption from the checkpoint, and its inspection."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch as th
from inspect_checkpoint import saturation_report
from scripts import BENCHMARKS
from stable_baselines3 import SAC

from sb3_sacx import SACX, QScheduler

TINY_SACX = {"learning_starts": 100, "batch_size": 16, "retrace_steps": 4, "buffer_size": 2_000}


def run_script(name: str, *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def run_script_expecting_error(name: str, *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 2, completed.stdout + completed.stderr
    return completed.stderr


def steps_in_csv(path: Path) -> list[int]:
    with open(path) as file:
        return [int(row["steps"]) for row in csv.DictReader(file)]


def test_learning_benchmark_resumes_and_is_inspectable(tmp_path: Path) -> None:
    common = [
        "--algo", "sacx", "--env", "continuous", "--seed", "3", "--eval-every", "150", "--eval-episodes", "2",
        "--head-episodes", "1", "--sacx-kwargs", json.dumps(TINY_SACX),
        "--checkpoint-dir", str(tmp_path / "checkpoints"), "--results-dir", str(tmp_path / "results"),
    ]  # fmt: skip
    run_script("sparse_lunar_lander.py", *common, "--steps", "300")
    csv_path = tmp_path / "results" / "continuous" / "sacx" / "seed3.csv"
    # Rows as an earlier script wrote them (no cpu column)
    with open(csv_path) as file:
        written = [{key: value for key, value in row.items() if key != "cpu"} for row in csv.DictReader(file)]
    with open(csv_path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(written[0]))
        writer.writeheader()
        writer.writerows(written)
    resumed = run_script("sparse_lunar_lander.py", *common, "--steps", "450")
    assert "resuming sacx seed 3 at 300 steps" in resumed

    with open(csv_path) as file:
        rows = list(csv.DictReader(file))
    assert [int(row["steps"]) for row in rows] == [150, 300, 450]
    # The CPU beside the timings, from the resumed run on
    assert [row["cpu"] for row in rows][:2] == ["", ""] and "AVX2" in rows[2]["cpu"]
    assert all(0.0 <= float(row["success_rate"]) <= 1.0 for row in rows)
    assert float(rows[2]["wall_time_s"]) > float(rows[1]["wall_time_s"])

    branched = run_script(
        "sparse_lunar_lander.py", *common, "--steps", "600", "--variant", "tiny-branch", "--branch-from", "sacx",
        "--sacx-kwargs", json.dumps({"scheduler": "sac-q", "rewarded_snippet_fraction": 0.5}),
    )  # fmt: skip
    assert "tiny-branch seed 3 branches from sacx at 450 steps" in branched
    with open(tmp_path / "results" / "continuous" / "tiny-branch" / "seed3.csv") as file:
        branch_rows = list(csv.DictReader(file))
    assert [int(row["steps"]) for row in branch_rows] == [150, 300, 450, 600]
    assert branch_rows[0]["success_rate"] == rows[0]["success_rate"] and branch_rows[0]["variant"] == "tiny-branch"
    branch_model = SACX.load(tmp_path / "checkpoints" / "continuous" / "tiny-branch" / "seed3" / "model.zip")
    assert isinstance(branch_model.scheduler, QScheduler) and branch_model.rewarded_snippet_fraction == 0.5
    assert branch_model.num_timesteps == 600
    # --sacx-kwargs wins over the env's own SACX settings (LunarLander's 10k warm-up)
    assert branch_model.learning_starts == TINY_SACX["learning_starts"]

    report = run_script(
        "inspect_checkpoint.py", str(tmp_path / "checkpoints" / "continuous" / "sacx" / "seed3"), "--episodes", "1"
    )
    assert "replay buffer: 450 steps per env" in report
    assert "saturated actions per action dimension: " in report
    for task in ("main", "touch", "goal_distance"):
        assert f"head {task}:" in report


def test_learning_benchmark_with_an_extra_task(tmp_path: Path) -> None:
    # Without learning_starts: LunarLander's own 10k warm-up applies, so these 150 steps are all warm-up
    warm_up_kwargs = {key: value for key, value in TINY_SACX.items() if key != "learning_starts"}
    run_script(
        "sparse_lunar_lander.py", "--algo", "sacx", "--env", "discrete", "--seed", "1", "--steps", "150",
        "--eval-every", "150", "--eval-episodes", "1", "--head-episodes", "1", "--variant", "pad",
        "--extra-task", "land_on_pad", "--sacx-kwargs", json.dumps(warm_up_kwargs),
        "--checkpoint-dir", str(tmp_path / "checkpoints"), "--results-dir", str(tmp_path / "results"),
    )  # fmt: skip
    with open(tmp_path / "results" / "discrete" / "pad" / "seed1.csv") as file:
        (row,) = list(csv.DictReader(file))
    assert {"eval_aux_return_land_on_pad", "head_success_land_on_pad", "p_land_on_pad"} <= set(row)
    checkpoint = tmp_path / "checkpoints" / "discrete" / "pad" / "seed1"
    model = SACX.load(checkpoint / "model.zip")
    assert model.task_names[-1] == "land_on_pad"
    assert model.learning_starts == 10_000 and model.batch_size == TINY_SACX["batch_size"]
    report = run_script("inspect_checkpoint.py", str(checkpoint), "--episodes", "1")
    assert "head land_on_pad:" in report and "saturated actions" not in report  # Discrete actions do not saturate


def test_a_main_task_only_checkpoint_is_inspectable(tmp_path: Path) -> None:
    # The ablation stores no auxiliary rewards: the buffer report reads the ground contact from the observation
    run_script(
        "sparse_lunar_lander.py", "--algo", "sacx", "--env", "continuous", "--seed", "2", "--steps", "150",
        "--eval-every", "150", "--eval-episodes", "1", "--head-episodes", "1", "--variant", "main-only", "--no-aux",
        "--sacx-kwargs", json.dumps(TINY_SACX),
        "--checkpoint-dir", str(tmp_path / "checkpoints"), "--results-dir", str(tmp_path / "results"),
    )  # fmt: skip
    checkpoint = tmp_path / "checkpoints" / "continuous" / "main-only" / "seed2"
    assert SACX.load(checkpoint / "model.zip").task_names == ("main",)
    report = run_script("inspect_checkpoint.py", str(checkpoint), "--episodes", "1")
    assert "replay buffer: 150 steps per env" in report and "main=1.00" in report
    assert "head main:" in report and "head touch:" not in report


def test_saturation_report_counts_actions_at_and_near_the_bounds() -> None:
    # torch's float32 tanh rounds to 1 from |u| of about 9.0 on: 2 of 4 there in the first dimension, 3 of 4 beyond 0.99999
    actions = th.tanh(th.tensor([[9.5, 0.0], [-10.0, 0.5], [6.5, -0.9], [1.0, 6.5]])).numpy()
    assert saturation_report(actions) == "50.00% at ±1, 75.00% beyond ±0.99999, 0.00% at ±1, 25.00% beyond ±0.99999"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--algo", "sac", "--extra-task", "land_on_pad"], "--extra-task apply to --algo sacx only"),
        (["--env", "mountaincar", "--extra-task", "land_on_pad"], "land_on_pad is not a task for --env mountaincar"),
        (["--env", "mountaincar", "--algo", "dqn"], "its baseline is --algo sac"),
        (["--env", "discrete", "--algo", "sac"], "its baseline is --algo dqn"),
        (["--env", "mountaincar", "--eval-every", "0"], "--eval-every: must be at least 1"),
        (["--sacx-kwargs", "[1]"], "--sacx-kwargs must be a JSON object"),
    ],
)
def test_learning_benchmark_refuses_bad_arguments(args: list[str], message: str) -> None:
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / "sparse_lunar_lander.py"), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 2 and message in completed.stderr


def test_learning_benchmark_on_mountain_car(tmp_path: Path) -> None:
    common = [
        "--env", "mountaincar", "--seed", "2", "--eval-episodes", "2", "--head-episodes", "1",
        "--checkpoint-dir", str(tmp_path / "checkpoints"), "--results-dir", str(tmp_path / "results"),
    ]  # fmt: skip
    sacx = [
        *common,
        "--algo",
        "sacx",
        "--variant",
        "sacx-defaults",
        "--eval-every",
        "150",
        "--sacx-kwargs",
        json.dumps(TINY_SACX),
    ]
    run_script("sparse_lunar_lander.py", *sacx, "--steps", "150")
    resumed = run_script("sparse_lunar_lander.py", *sacx, "--steps", "300")
    assert "resuming sacx-defaults seed 2 at 150 steps" in resumed
    with open(tmp_path / "results" / "mountaincar" / "sacx-defaults" / "seed2.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["steps"]) for row in rows] == [150, 300]
    assert float(rows[1]["wall_time_s"]) > float(rows[0]["wall_time_s"])
    assert {row["env"] for row in rows} == {"mountaincar"} and {row["variant"] for row in rows} == {"sacx-defaults"}
    assert all(0.0 <= float(row["success_rate"]) <= 1.0 for row in rows)
    # An untrained head rarely reaches the flag; one that never does runs gymnasium's 999 steps
    assert all(1.0 <= float(row["mean_length"]) <= 999.0 for row in rows)
    for task in ("speed", "height", "left"):
        assert {f"eval_aux_return_{task}", f"head_success_{task}", f"p_{task}"} <= set(rows[0])
    assert "eval_aux_return_touch" not in rows[0]
    model = SACX.load(tmp_path / "checkpoints" / "mountaincar" / "sacx-defaults" / "seed2" / "model.zip")
    assert model.task_names == ("main", "speed", "height", "left") and model.num_timesteps == 300

    # The baseline with rl-zoo3's MountainCar settings: gSDE, 32 gradient steps every 32 env steps
    run_script("sparse_lunar_lander.py", *common, "--algo", "sac", "--eval-every", "64", "--steps", "64")
    with open(tmp_path / "results" / "mountaincar" / "sac" / "seed2.csv") as file:
        (row,) = list(csv.DictReader(file))
    assert int(row["steps"]) == 64 and "head_success_speed" not in row
    baseline = SAC.load(tmp_path / "checkpoints" / "mountaincar" / "sac" / "seed2" / "model.zip")
    assert baseline.use_sde and baseline.gamma == 0.9999 and baseline.gradient_steps == 32
    assert baseline.policy_kwargs["net_arch"] == [64, 64]

    # A checkpoint lost (with the machine that trained it): the run refuses to replace its rows unless told to
    shutil.rmtree(tmp_path / "checkpoints" / "mountaincar" / "sac" / "seed2")
    baseline_again = [*common, "--algo", "sac", "--eval-every", "64", "--steps", "128"]
    refused = run_script_expecting_error("sparse_lunar_lander.py", *baseline_again)
    assert "has rows up to 64 steps but no checkpoint" in refused and "--restart" in refused
    assert steps_in_csv(tmp_path / "results" / "mountaincar" / "sac" / "seed2.csv") == [64]
    restarted = run_script("sparse_lunar_lander.py", *baseline_again, "--restart")
    assert "--restart: replacing the 1 rows" in restarted
    assert steps_in_csv(tmp_path / "results" / "mountaincar" / "sac" / "seed2.csv") == [64, 128]


def test_throughput_benchmark_states_the_cpu(tmp_path: Path) -> None:
    output = run_script(
        "throughput.py", "--steps", "4", "--warmup", "260", "--repeats", "1", "--threads", "1", "2",
        "--results-dir", str(tmp_path),
    )  # fmt: skip
    assert "AVX512-BF16" in output and "1 thread(s)" in output and "2 thread(s)" in output
    with open(tmp_path / "throughput.csv") as file:
        rows = list(csv.DictReader(file))
    # Each thread count has its SAC row, against which its SACX rows are measured
    for threads in ("1", "2"):
        at = [row for row in rows if row["threads"] == threads]
        assert at[0]["variant"] == "SAC" and float(at[0]["ratio_to_sac"]) == 1.0
        assert "SACX defaults" in [row["variant"] for row in at]
    assert all(row["avx512_bf16"] in ("True", "False") and row["model"] for row in rows)
    assert (tmp_path / "throughput.png").is_file()


def test_dense_identity_benchmark_writes_a_row_per_setting_and_seed(tmp_path: Path) -> None:
    output = run_script("dense_identity.py", "--steps", "120", "--seeds", "0", "--results-dir", str(tmp_path))
    assert "retrace_steps=1" in output
    with open(tmp_path / "dense_identity.csv") as file:
        rows = list(csv.DictReader(file))
    assert [row["setting"] for row in rows] == ["defaults", "retrace_steps=1", "retrace_lambda=0", "main_reward_scale=20"]
    assert all(0.0 <= float(row["mean_reward"]) <= 100.0 and row["steps"] == "120" for row in rows)
    assert (tmp_path / "dense_identity.png").is_file()
