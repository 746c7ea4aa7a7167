"""
Turn the learning benchmark's CSVs (``benchmarks/results/<env>/<run>/seed<k>.csv``, written by
``benchmarks/sparse_lunar_lander.py``) into the tables and plots that the README and the documentation show:

    python benchmarks/plot_results.py

Every number in those tables comes from the CSVs through this script (its package ``report``); nothing is copied by
hand. It writes

- ``docs/_generated/headline.rst``: the headline comparison (SPEC section 7), one row per env and method: SACX with its
  defaults, SACX with the main task only and SB3's baseline (SAC for Box actions, DQN for Discrete ones), each the
  plan's run of the method or one of its earlier runs (``plan.METHODS``, see ``report.statistics.headline_runs``), and
  named in its row;
- ``docs/_generated/pays.rst``: per env, whether the auxiliary tasks pay: SACX's defaults minus its main-task-only
  ablation (the headline's runs), median success at every evaluation both reached (also under the README's table);
- ``docs/_generated/review.rst``: per env and seed, the success of SACX's defaults in their earlier runs and in the
  plan's run (``sacx-defaults``) at every evaluation both reached;
- ``docs/_generated/screening.rst``: candidate defaults (the plan's SACX variants) against SACX's defaults on the
  cheap envs, with the rule that keeps or drops each before it is run on the continuous lander;
- ``docs/_generated/summary.rst``: one row per run (every variant and ablation) at the last step all its seeds reached;
- ``docs/_generated/envs.rst``: per env, the headline runs' median success (min to max over seeds) at every evaluation,
  every run's per-seed curve and the env's plots;
- the README's headline table, in place between its results markers (``report.pages.README_BEGIN`` and ``README_END``);
- ``benchmarks/results/summary.csv`` (the summary's numbers) and, unless ``--no-plots``, ``success_<env>.png``
  (SACX and its baselines: median over seeds, the band spans min to max, dotted lines are single seeds),
  ``success_<env>_variants.png`` (every other run against SACX's defaults) and ``aux_returns_<env>.png`` (the
  headline runs' mean auxiliary returns per task in the main head's evaluation episodes).

Any folder under ``benchmarks/results`` with ``<run>/seed<k>.csv`` files below it is an env; ``common.ENVS`` gives
its gymnasium id and its budget. The headline compares finished seeds (``report.statistics.headline_seeds``), so that
a seed still in progress can be committed without cutting its method's row short.
"""

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from common import RESULTS
from report.pages import GENERATED, README, write_pages
from report.plots import plot
from report.runs import load_runs


def main(argv: Optional[Sequence[str]] = None) -> None:
    """
    Write the tables, the plots and the README's headline table from the CSVs.

    :param argv: command-line arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where <env>/<run>/seed<k>.csv are")
    parser.add_argument("--generated-dir", type=Path, default=GENERATED, help="where the docs' tables go")
    parser.add_argument("--readme", type=Path, default=README, help="README whose headline table to rewrite")
    parser.add_argument("--no-plots", action="store_true", help="tables only (no matplotlib needed)")
    args = parser.parse_args(argv)

    runs = load_runs(args.results_dir)
    if not runs:
        parser.error(f"no <env>/<run>/seed<k>.csv files under {args.results_dir}")
    if not args.no_plots:
        plot(runs, args.results_dir)
    print(write_pages(runs, args.results_dir, args.generated_dir, args.readme))


if __name__ == "__main__":
    main()
