"""benchmarks/run_plan.py: which runs a lane takes, and that two lanes never take the same one."""

import csv
from pathlib import Path

import pytest
import run_plan
from plan import METHODS, PLAN, PlannedRun

CONTINUOUS_0 = PlannedRun("continuous", "sacx-defaults", 0)
MOUNTAINCAR_0 = PlannedRun("mountaincar", "sac", 0)
MOUNTAINCAR_1 = PlannedRun("mountaincar", "sacx-main-only", 1)


def write_steps(results: Path, planned: PlannedRun, steps: list[int]) -> None:
    path = planned.csv_path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["steps", "success_rate"])
        writer.writeheader()
        writer.writerows({"steps": step, "success_rate": 0.0} for step in steps)


def test_the_plan_is_spec_sections_seven_comparison() -> None:
    plan = PLAN
    assert len(set(plan)) == len(plan)
    for env, baseline, n_seeds in (("mountaincar", "sac", 5), ("continuous", "sac", 3), ("discrete", "dqn", 3)):
        for run in ("sacx-defaults", "sacx-main-only", baseline):
            seeds = {planned.seed for planned in plan if planned.env == env and planned.run == run}
            assert seeds >= set(range(n_seeds)), (env, run)
    assert {planned.seed for planned in plan if planned.env == "continuous" and planned.run != "sac"} == set(range(5))
    # The learner review's re-runs come first, then SPEC section 7's table, then the levers
    assert plan[:3] == tuple(PlannedRun("continuous", "sacx-defaults", seed) for seed in range(3))
    table = [i for i, planned in enumerate(plan) if planned.run in ("sacx-defaults", "sacx-main-only", "sac", "dqn")]
    assert table == list(range(len(table)))


def test_a_methods_arguments_are_the_benchmarks_command_line() -> None:
    # What the lanes pass to the benchmark (the checkpoints' identity comes from them: they must not drift)
    assert METHODS["sac"].arguments("sac") == ("--algo", "sac")
    assert METHODS["sacx-main-only"].arguments("sacx-main-only") == (
        "--algo", "sacx", "--variant", "sacx-main-only", "--no-aux",
    )  # fmt: skip
    assert PlannedRun("mountaincar", "sacx-floor-0.5-xi-100", 2).arguments == (
        "--env", "mountaincar", "--seed", "2", "--algo", "sacx", "--variant", "sacx-floor-0.5-xi-100",
        "--sacx-kwargs", '{"scheduler_kwargs": {"min_main_probability": 0.5}, "schedule_period": 100}',
    )  # fmt: skip
    assert PlannedRun("discrete", "sacx-defaults-land-on-pad", 1).arguments == (
        "--env", "discrete", "--seed", "1", "--algo", "sacx", "--variant", "sacx-defaults-land-on-pad",
        "--extra-task", "land_on_pad",
    )  # fmt: skip


def test_a_run_is_finished_at_its_envs_budget(tmp_path: Path) -> None:
    write_steps(tmp_path, MOUNTAINCAR_0, [5024, 10016, 50016])
    write_steps(tmp_path, MOUNTAINCAR_1, [5000, 45000])
    write_steps(tmp_path, CONTINUOUS_0, [25_000, 50_000, 75_000])
    assert run_plan.is_finished(MOUNTAINCAR_0, tmp_path)
    assert not run_plan.is_finished(MOUNTAINCAR_1, tmp_path)
    assert not run_plan.is_finished(CONTINUOUS_0, tmp_path)
    assert run_plan.steps_reached(PlannedRun("discrete", "dqn", 2), tmp_path) == 0


def test_a_lane_skips_finished_runs_and_runs_held_by_another_lane(tmp_path: Path) -> None:
    results, checkpoints = tmp_path / "results", tmp_path / "checkpoints"
    plan = [CONTINUOUS_0, MOUNTAINCAR_0, MOUNTAINCAR_1]
    write_steps(results, MOUNTAINCAR_0, [50_016])
    with run_plan.held(CONTINUOUS_0, checkpoints) as mine:
        assert mine
        assert "running" in run_plan.status(CONTINUOUS_0, results, checkpoints)
        with run_plan.held(CONTINUOUS_0, checkpoints) as also_mine:
            assert not also_mine
        assert run_plan.run_lane(plan, results, checkpoints, dry_run=True) == [MOUNTAINCAR_1]
    # Released with its holder
    assert run_plan.run_lane(plan, results, checkpoints, dry_run=True) == [CONTINUOUS_0, MOUNTAINCAR_1]
    assert run_plan.status(CONTINUOUS_0, results, checkpoints) == "not started"
    assert run_plan.status(MOUNTAINCAR_0, results, checkpoints) == "finished"


def test_a_lane_trains_a_run_with_the_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    tiny = [
        "--steps", "300", "--eval-every", "150", "--eval-episodes", "1", "--head-episodes", "0",
        "--sacx-kwargs", '{"learning_starts": 100, "batch_size": 16, "retrace_steps": 4, "buffer_size": 1000}',
    ]  # fmt: skip
    run_plan.run_lane([MOUNTAINCAR_1], results, tmp_path / "checkpoints", tiny)
    assert run_plan.steps_reached(MOUNTAINCAR_1, results) == 300
    assert "=== FAILED" not in capsys.readouterr().out


def test_arguments_the_benchmark_refuses_stop_the_lane_before_any_run(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        run_plan.main(["--env", "discrete", "--results-dir", str(tmp_path), "--no-such-option"])


def test_a_lane_can_be_limited_to_some_methods(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_plan.main([
        "--env", "continuous", "--run", "sacx-main-only", "--list",
        "--results-dir", str(tmp_path), "--checkpoint-dir", str(tmp_path),
    ])  # fmt: skip
    listed = capsys.readouterr().out.splitlines()
    expected = [planned for planned in PLAN if (planned.env, planned.run) == ("continuous", "sacx-main-only")]
    assert len(listed) == len(expected) == 5
    assert all("continuous" in line and "sacx-main-only" in line for line in listed)


def test_a_lane_never_starts_a_run_whose_csv_is_beyond_its_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results, checkpoints = tmp_path / "results", tmp_path / "checkpoints"
    write_steps(results, MOUNTAINCAR_1, [5000, 10_000])  # its checkpoint lost, say with the machine that trained it
    assert run_plan.rows_beyond_checkpoint(MOUNTAINCAR_1, results, checkpoints)
    assert run_plan.run_lane([MOUNTAINCAR_1, MOUNTAINCAR_0], results, checkpoints, dry_run=True) == [MOUNTAINCAR_0]
    assert f"SKIPPED: {MOUNTAINCAR_1}" in capsys.readouterr().out
    assert "rows beyond its checkpoint" in run_plan.status(MOUNTAINCAR_1, results, checkpoints)
    assert steps_in(results, MOUNTAINCAR_1) == [5000, 10_000]


def steps_in(results: Path, planned: PlannedRun) -> list[int]:
    with open(planned.csv_path(results)) as file:
        return [int(row["steps"]) for row in csv.DictReader(file)]
