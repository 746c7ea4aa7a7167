"""The learning benchmark's CSVs as the report reads them, and its envs in the report's order."""

from collections import defaultdict
from pathlib import Path
from typing import Any

from common import ENV_IDS, ENVS, read_rows

#: A run's rows by seed, numbers parsed.
Seeds = dict[int, list[dict[str, Any]]]
#: Every run's rows: ``{(env, run): {seed: rows}}``.
Runs = dict[tuple[str, str], Seeds]

# A benchmark env's budget (steps) by results folder; its gymnasium id is ENV_IDS's
BUDGETS = {env: setting.steps for env, setting in ENVS.items()}


def load_runs(results: Path) -> Runs:
    """
    ``{(env, run): {seed: rows}}`` with numeric values parsed, from ``results/<env>/<run>/seed<k>.csv``.

    :param results: the results folder (``--results-dir``).
    """
    runs: Runs = defaultdict(dict)
    for path in sorted(results.glob("*/*/seed*.csv")):
        rows = [{key: parse(value) for key, value in row.items()} for row in read_rows(path)[1]]
        if rows:
            runs[(path.parent.parent.name, path.parent.name)][int(path.stem[4:])] = rows
    return dict(runs)


def parse(value: str) -> Any:
    """
    A CSV cell as a float where it is a number, else as it stands.

    :param value: the cell's text.
    """
    try:
        return float(value)
    except ValueError:
        return value


def env_name(env: str) -> str:
    """
    An env's gymnasium id (:data:`ENV_IDS`), or its folder's name for an env without one.

    :param env: an env's results folder (``continuous``, ``discrete``, ``mountaincar``, ...).
    """
    return ENV_IDS.get(env, env)


def envs_of(runs: Runs) -> list[str]:
    """
    Env folders, the known ones in :data:`ENV_IDS`'s order first.

    :param runs: every run's rows, as :func:`load_runs` gives them.
    """
    found = {env for env, _ in runs}
    return [env for env in ENV_IDS if env in found] + sorted(found - set(ENV_IDS))


def runs_on(runs: Runs, env: str) -> list[tuple[str, Seeds]]:
    """
    ``(run, seeds)`` of every run on ``env``, by run name.

    :param runs: every run's rows, as :func:`load_runs` gives them.
    :param env: an env's results folder.
    """
    return [(run, seeds) for (run_env, run), seeds in sorted(runs.items()) if run_env == env]
