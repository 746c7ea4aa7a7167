"""benchmarks/plot_results.py on tiny synthetic results: the tables say what the CSVs say."""

import csv
import itertools
from pathlib import Path
from typing import Optional

import plot_results
import pytest
from report import pages, statistics, tables
from report.runs import BUDGETS, load_runs

# run -> seed -> success at 10, 20, 30, 40 steps
CURVES = {
    ("mountaincar", "sacx-defaults"): {0: [0.0, 0.5, 0.9, 1.0], 1: [0.0, 1.0, 0.95, 0.8], 2: [0.0, 0.2, 0.4, 0.9]},
    ("mountaincar", "sacx"): {0: [0.0, 0.0, 0.0, 0.0]},  # superseded by sacx-defaults in the headline
    ("mountaincar", "sac"): {0: [0.0, 0.0, 0.0], 1: [0.0, 0.1, 0.2, 0.3]},  # seed 0 stopped at 30 steps
    ("mountaincar", "sacx-main-only"): {0: [0.0, 0.0, 0.5, 1.0]},
    ("discrete", "sacx"): {3: [0.1, 0.2, 0.3, 0.4]},
    ("discrete", "sacx-bf16-main-only"): {3: [0.5, 0.9, 0.9, 1.0]},
    ("discrete", "sacx-main-only"): {3: [0.0, 0.0]},  # newer, but behind: the headline keeps sacx-bf16-main-only
    ("discrete", "dqn"): {3: [0.0, 0.0, 0.0, 0.0]},
    ("discrete", "sacx-ablation"): {3: [1.0, 1.0, 1.0, 1.0]},  # not in the headline
}


def write_results(results: Path) -> None:
    for (env, run), seeds in CURVES.items():
        for seed, curve in seeds.items():
            path = results / env / run / f"seed{seed}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", newline="") as file:
                writer = csv.writer(file)
                writer.writerow(["algo", "steps", "wall_time_s", "success_rate"])
                for i, success in enumerate(curve):
                    writer.writerow([run, 10 * (i + 1), 60.0 * (i + 1), success])


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    write_results(tmp_path / "results")
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{pages.README_BEGIN}\nold table\n{pages.README_END}\n\nafter\n")
    plot_results.main(
        [
            *("--results-dir", str(tmp_path / "results"), "--generated-dir", str(tmp_path / "gen")),
            *("--readme", str(readme), "--no-plots"),
        ]
    )
    return tmp_path


def test_headline_medians_spread_and_first_step_at_target(generated: Path) -> None:
    runs = load_runs(generated / "results")
    rows = {(row["env"], row["method"]): row for row in statistics.headline_rows(runs)}
    # Env order: the known envs in ENV_IDS's order; methods in HEADLINE's order, the furthest measured run of each
    assert list(rows) == [
        ("SparseLunarLander-v0", "SACX (defaults)"),
        ("SparseLunarLander-v0", "SACX, main task only"),
        ("SparseLunarLander-v0", "SB3 DQN"),
        ("SparseMountainCarContinuous-v0", "SACX (defaults)"),
        ("SparseMountainCarContinuous-v0", "SACX, main task only"),
        ("SparseMountainCarContinuous-v0", "SB3 SAC"),
    ]
    sacx = rows[("SparseMountainCarContinuous-v0", "SACX (defaults)")]
    assert sacx["run"] == "sacx-defaults" and sacx["seeds"] == 3 and sacx["steps"] == 40
    # medians 0.0, 0.5, 0.9, 0.9: first at 0.9 on the third evaluation
    assert sacx["median_first_at_0_9"] == 30
    assert list(sacx["curve_median"]) == [0.0, 0.5, 0.9, 0.9]
    # Seeds first at 0.9 after 180, 120 and 240 s of training: the median seed's time
    assert sacx["train_hours_to_0_9"] == round(180 / 3600, 2)
    assert sacx["cpu"] == "not recorded"
    recorded = {0: [dict(cpu="AMD EPYC; AVX2 yes; torch kernels AVX2")], 1: [dict(cpu=""), dict(cpu="Xeon; AVX2 yes")]}
    assert statistics.cpus_of(recorded) == "AMD EPYC; AVX2 yes / Xeon; AVX2 yes"
    assert (sacx["success_median"], sacx["success_min"], sacx["success_max"]) == (0.9, 0.8, 1.0)
    # Seeds that stopped early: the row is at the last step all of them reached
    sac = rows[("SparseMountainCarContinuous-v0", "SB3 SAC")]
    assert sac["steps"] == 30 and sac["success_median"] == pytest.approx(0.1) and sac["median_first_at_0_9"] is None
    assert sac["train_hours_to_0_9"] is None
    # One seed of three never reached 0.9 (counted as last): the median seed did, at 60 s
    two_of_three = {seed: [dict(wall_time_s=60.0, success_rate=success)] for seed, success in enumerate([1.0, 0.95, 0.0])}
    assert statistics.hours_to_target(two_of_three) == round(60 / 3600, 2)
    assert rows[("SparseLunarLander-v0", "SACX, main task only")]["run"] == "sacx-bf16-main-only"


def test_headline_compares_finished_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BUDGETS, "mountaincar", 30)

    def curve(*success: float) -> list[dict[str, float]]:
        return [dict(steps=10 * (i + 1), success_rate=value) for i, value in enumerate(success)]

    runs = {
        # Seed 2 is in progress: the headline compares seeds 0 and 1 at the budget, not all three at 10 steps
        ("mountaincar", "sacx-defaults"): {0: curve(0.0, 1.0, 1.0), 1: curve(0.0, 0.5, 1.0), 2: curve(0.0)},
        # No seed has finished: all of them, at the steps all reached
        ("mountaincar", "sacx-main-only"): {0: curve(0.0, 0.0), 1: curve(0.0, 0.5)},
    }
    rows = {row["run"]: row for row in statistics.headline_rows(runs)}
    assert (rows["sacx-defaults"]["seeds"], rows["sacx-defaults"]["steps"]) == (2, 30)
    assert list(rows["sacx-defaults"]["curve_median"]) == [0.0, 0.75, 1.0]
    assert (rows["sacx-main-only"]["seeds"], rows["sacx-main-only"]["steps"]) == (2, 20)
    pays = statistics.auxiliaries_pay(runs, "mountaincar")
    assert pays["evaluations"] == 2 and pays["best"] == 0.5 and pays["clearly_better_at"] == 20
    # An older run measured by more finished seeds stays the headline's until the new one's seeds finish
    runs[("mountaincar", "sacx")] = {seed: curve(0.0, 0.0, 0.0) for seed in range(3)}
    assert statistics.headline_runs(runs, "mountaincar")[0][1] == "sacx"


def test_generated_files(generated: Path) -> None:
    readme = (generated / "README.md").read_text()
    assert "old table" not in readme and readme.endswith(f"{pages.README_END}\n\nafter\n")
    assert "| SACX (defaults) | `sacx-defaults` | 3 | 3 | 40 | 0.90 | 0.80 to 1.00 | 30 |" in readme
    assert "| SB3 SAC | `sac` | 2 | 0 | 30 | 0.10 | 0.00 to 0.20 | not reached |" in readme

    headline = (generated / "gen" / "headline.rst").read_text()
    assert headline.startswith(".. list-table::") and headline.count("   * - ") == 1 + 6
    summary = (generated / "gen" / "summary.rst").read_text()
    assert "``sacx-ablation``" in summary and "1.00 (10)" in summary  # best median, first reached at 10 steps
    envs = (generated / "gen" / "envs.rst").read_text()
    assert "``SparseMountainCarContinuous-v0``" in envs
    assert "**0.90** (0.40 to 0.95)" in envs and "**0.90** (0.80 to 1.00)" in envs
    assert "``sac``\n     - 0\n     - 30\n     - 0.00, 0.00, 0.00" in envs
    with open(generated / "results" / "summary.csv") as file:
        summary_rows = list(csv.DictReader(file))
    assert len(summary_rows) == len(CURVES)
    minutes = {row["method"]: row["train_minutes_per_100k"] for row in summary_rows}
    assert minutes["dqn"] == str(round(240 / 40 * 100_000 / 60, 1))


def test_whether_the_auxiliaries_pay(generated: Path) -> None:
    runs = load_runs(generated / "results")
    rows = {row["env"]: row for row in statistics.pays_rows(runs)}
    # On seed 0, the one seed both ran: 0.0, 0.5, 0.9, 1.0 against 0.0, 0.0, 0.5, 1.0. The defaults' median over all
    # three of its seeds (0.9 at 40) would make them worse by 0.1 at 40 than a main-only run that has seed 0 only
    mountaincar = rows["SparseMountainCarContinuous-v0"]
    assert mountaincar["runs"] == ("sacx-defaults", "sacx-main-only") and mountaincar["seeds"] == [0]
    assert mountaincar["evaluations"] == 4
    assert (mountaincar["worst"], mountaincar["worst_at"]) == (0.0, 10)
    assert (mountaincar["best"], mountaincar["best_at"]) == (0.5, 20)
    assert mountaincar["never_worse"] and mountaincar["clearly_better_at"] == 20
    # 0.1, 0.2, 0.3, 0.4 against 0.5, 0.9, 0.9, 1.0 (sacx-main-only is behind: sacx-bf16-main-only is the headline's)
    discrete = rows["SparseLunarLander-v0"]
    assert discrete["runs"] == ("sacx", "sacx-bf16-main-only")
    assert discrete["best"] == pytest.approx(-0.4) and discrete["clearly_better_at"] is None
    readme = (generated / "README.md").read_text()
    assert (
        "| `SparseMountainCarContinuous-v0` | `sacx-defaults` vs `sacx-main-only` | 0 | 4 | +0.00 (10) | +0.50 (20) | yes "
        in readme
    )
    assert "| yes, from 20 | 1 / 1 of 1 | 1.00 / 1.00 |" in readme
    assert "``sacx`` vs ``sacx-bf16-main-only``" in (generated / "gen" / "pays.rst").read_text()


def test_the_defaults_rerun_against_their_earlier_run(generated: Path) -> None:
    runs = load_runs(generated / "results")
    # MountainCar: sacx seed 0 before, sacx-defaults seeds 0-2 after: seed 0 is the only one both measured
    assert tables.rerun_rows(runs, "mountaincar", "sacx", "sacx-defaults") == [
        ["steps", "seed 0"],
        ["10", "0.00 → 0.00"],
        ["20", "0.00 → 0.50"],
        ["30", "0.00 → 0.90"],
        ["40", "0.00 → 1.00"],
    ]
    assert tables.rerun_rows(runs, "discrete", "sacx", "sacx-defaults") == []  # no sacx-defaults run there
    # Seeds that reached different steps: a row where any seed has both, "—" for one without
    before = [dict(steps=25, success_rate=0.1), dict(steps=50, success_rate=0.2)]
    uneven = {
        ("continuous", "sacx"): {0: before, 1: before},
        ("continuous", "sacx-defaults"): {
            0: [dict(steps=25, success_rate=0.3), dict(steps=50, success_rate=0.4)],
            1: [dict(steps=25, success_rate=0.5)],
        },
    }
    assert tables.rerun_rows(uneven, "continuous", "sacx", "sacx-defaults")[1:] == [
        ["25", "0.10 → 0.30", "0.10 → 0.50"],
        ["50", "0.20 → 0.40", "—"],
    ]
    review = (generated / "gen" / "review.rst").read_text()
    assert review.startswith("``SparseMountainCarContinuous-v0``, success ``sacx`` → ``sacx-defaults``")
    assert "     - 0.00 → 0.90" in review


@pytest.mark.parametrize(
    ("steps", "label"), [(None, "not reached"), (40, "40"), (15_000, "15k"), (50_016, "50k"), (5_024, "5k"), (1_500, "1500")]
)
def test_steps_label(steps: Optional[int], label: str) -> None:
    assert tables.steps_label(steps) == label


def test_one_table_renderer_writes_markdown_and_rest() -> None:
    header, rows = ("run", "success"), [[tables.code("sac", "markdown"), "0.50"]]
    assert tables.table(header, rows, "markdown") == "| run | success |\n|---|---|\n| `sac` | 0.50 |\n"
    rows = [[tables.code("sac", "rst"), "0.50"]]
    assert tables.table(header, rows, "rst") == (
        ".. list-table::\n   :header-rows: 1\n\n   * - run\n     - success\n   * - ``sac``\n     - 0.50\n"
    )


def test_readme_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="markers"):
        pages.replace_between_markers("no markers here", "table")


def test_env_table_has_one_row_per_evaluation_label() -> None:
    # SAC's MountainCar chunks of 32 steps evaluate at 5024 and 10016 where SACX does at 5000 and 10000
    runs = {
        ("mountaincar", "sacx-defaults"): {0: [dict(steps=5000, success_rate=0.5), dict(steps=10000, success_rate=1.0)]},
        ("mountaincar", "sac"): {0: [dict(steps=5024, success_rate=0.0), dict(steps=10016, success_rate=0.25)]},
    }
    table = pages.env_page(runs, "mountaincar", plots=[]).split("Success rate of every run")[0]
    assert table.count("   * - 5k\n") == 1 and table.count("   * - 10k\n") == 1
    assert "   * - 10k\n     - **1.00** (1.00 to 1.00)\n     - 0.25 (0.25 to 0.25)\n" in table


def naive_fisher_greater(landed_a: int, seeds_a: int, landed_b: int, seeds_b: int) -> float:
    """Every way to split the pooled seeds into the two methods' counted: the share where the first lands as often or more."""
    pooled = [1] * (landed_a + landed_b) + [0] * (seeds_a + seeds_b - landed_a - landed_b)
    splits = list(itertools.combinations(range(len(pooled)), seeds_a))
    return sum(sum(pooled[i] for i in split) >= landed_a for split in splits) / len(splits)


@pytest.mark.parametrize(
    "counts", [(2, 5, 3, 5), (5, 5, 0, 5), (3, 3, 0, 3), (0, 5, 5, 5), (1, 3, 0, 3), (4, 5, 4, 5), (3, 4, 1, 6)]
)
def test_fisher_exact_test_on_landed_seeds(counts: tuple[int, int, int, int]) -> None:
    assert statistics.fisher_exact_greater(*counts) == pytest.approx(naive_fisher_greater(*counts), rel=1e-12)


def curve(*success: float) -> list[dict[str, float]]:
    return [dict(steps=5000 * (i + 1), success_rate=value) for i, value in enumerate(success)]


def test_screening_keeps_candidates_that_match_the_defaults_on_the_cheap_envs() -> None:
    early, late, never = curve(0.0, 1.0, 1.0, 1.0), curve(0.0, 0.0, 0.0, 0.95), curve(0.0, 0.0, 0.0, 0.0)
    runs = {
        ("mountaincar", "sacx-defaults"): {0: early, 1: early, 2: early},
        ("mountaincar", "sacx-main-floor-0.5"): {0: early, 1: late, 2: early},  # median 0.9 at 10k
        ("mountaincar", "sacx-floor-0.5-xi-100"): {0: late, 1: late, 2: never},  # median 0.9 only at 20k
        ("mountaincar", "sacx-ablation"): {0: never},  # not a candidate of the plan
        ("discrete", "sacx-defaults"): {0: curve(0.0, 0.5), 1: curve(0.0, 0.5)},
        ("discrete", "sacx-main-floor-0.5"): {0: curve(0.0, 0.47), 1: curve(0.0, 0.47)},  # within 0.05
        ("discrete", "sacx-floor-0.5-xi-100"): {0: curve(0.0, 0.3), 1: curve(0.0, 0.5)},  # median 0.4: 0.1 below
        ("continuous", "sacx-defaults"): {0: early},
        ("continuous", "sacx-main-floor-0.5"): {0: never},  # not a cheap env: not screened
    }
    mountaincar = {row["run"]: row for row in statistics.screening_rows(runs, "mountaincar")}
    assert list(mountaincar) == ["sacx-main-floor-0.5", "sacx-floor-0.5-xi-100"]
    assert mountaincar["sacx-main-floor-0.5"]["first_at"] == 10_000 and mountaincar["sacx-main-floor-0.5"]["kept"]
    dropped = mountaincar["sacx-floor-0.5-xi-100"]
    assert dropped["first_at"] == 20_000 and dropped["landed"] == 2 and not dropped["kept"]
    assert dropped["p_defaults_land_more"] == pytest.approx(naive_fisher_greater(3, 3, 2, 3))
    discrete = {row["run"]: row for row in statistics.screening_rows(runs, "discrete")}
    assert discrete["sacx-main-floor-0.5"]["kept"] and not discrete["sacx-floor-0.5-xi-100"]["kept"]
    assert discrete["sacx-floor-0.5-xi-100"]["worst"] == pytest.approx(-0.1)
    assert statistics.screening_rows(runs, "continuous") == []
    assert "(kept: median ≥ 0.9 by 15k)" in pages.screening_page(runs)
