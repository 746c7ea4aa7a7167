"""
Tests of the rl-zoo3 entry point ``python -m sb3_sacx.zoo``: training, replay, Optuna tuning, and its error messages.

The commands run in subprocesses, as a user runs them (rl-zoo3 patches gymnasium when imported, which
must not leak into the other tests), with tiny budgets: a few hundred env steps, small networks.
"""

import importlib.util
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

# Only looked up, not imported: importing rl-zoo3 would patch gymnasium's TimeLimit for the other tests too
if importlib.util.find_spec("rl_zoo3") is None:
    pytest.skip("rl-zoo3 is not installed (extra 'zoo')", allow_module_level=True)
optuna = pytest.importorskip("optuna")

from sb3_sacx import SACX  # noqa: E402
from sb3_sacx.zoo import (  # noqa: E402
    ZOO_INSTALL_COMMAND,
    convert_sacx_params,
    default_conf_file,
    missing_rl_zoo_message,
    pendulum_aux_wrapper,
    pinned_keys,
    sample_sacx_params,
)
from sb3_sacx.zoo.cli import COMMANDS  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "SparseLunarLanderContinuous-v0"
# Small enough that every command below takes seconds; 1 thread so that two workers share 2 cores well
TINY = ["--num-threads", "1", "-params", "learning_starts:100", "batch_size:32", "policy_kwargs:dict(net_arch=[32, 32])"]


def run_zoo(*args: str, cwd: Path, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python -m sb3_sacx.zoo ARGS`` in ``cwd`` (the package importable from the source tree)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "sb3_sacx.zoo", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        output = f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
        raise AssertionError(f"exit status {result.returncode}\n{output}")
    return result


def start_zoo(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", "sb3_sacx.zoo", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def journal_study(path: Path, study_name: str) -> "optuna.Study":
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    return optuna.load_study(study_name=study_name, storage=storage)


def test_train_then_load_and_enjoy(tmp_path: Path) -> None:
    run_zoo("train", "--env", ENV_ID, "-n", "300", "--eval-freq", "-1", "--seed", "0", "-f", "logs", *TINY, cwd=tmp_path)
    model_path = tmp_path / "logs" / "sacx" / f"{ENV_ID}_1" / f"{ENV_ID}.zip"
    assert model_path.is_file()
    # The default config file was used, with the command line's overrides on top
    config = yaml.unsafe_load((model_path.parent / ENV_ID / "config.yml").read_text())
    assert dict(config)["schedule_period"] == 250

    model = SACX.load(model_path)
    assert model.num_timesteps == 300
    assert model.batch_size == 32
    assert tuple(model.task_names)[:1] == ("main",)

    result = run_zoo("enjoy", "--env", ENV_ID, "-n", "150", "--no-render", "-f", "logs", cwd=tmp_path)
    assert f"Loading logs/sacx/{ENV_ID}_1/{ENV_ID}.zip" in result.stdout


def test_train_module_id_form_with_subproc_vec_env(tmp_path: Path) -> None:
    # The env is made in a worker process, which must find it without the parent's registry
    run_zoo(
        "train",
        "--env",
        f"sb3_sacx:{ENV_ID}",
        "--vec-env",
        "subproc",
        "-n",
        "200",
        "--eval-freq",
        "-1",
        *TINY,
        cwd=tmp_path,
    )
    assert (tmp_path / "logs" / "sacx" / f"{ENV_ID}_1" / f"{ENV_ID}.zip").is_file()


def test_train_dense_env_through_env_wrapper(tmp_path: Path) -> None:
    run_zoo("train", "--env", "Pendulum-v1", "-n", "200", "--eval-freq", "-1", *TINY, cwd=tmp_path)
    model = SACX.load(tmp_path / "logs" / "sacx" / "Pendulum-v1_1" / "Pendulum-v1.zip")
    assert list(model.task_names) == ["main", "upright", "still"]
    assert model.effective_main_reward_scale == 1.0  # "auto" on Pendulum's dense reward


# An -optimize run of two short trials, without pruning
TWO_TINY_TRIALS = (
    *("train", "--env", ENV_ID, "-n", "200", "-optimize", "--n-trials", "2"),
    *("--eval-episodes", "1", "--no-optim-plots", "--pruner", "none"),
)


def test_optimize_two_trials(tmp_path: Path) -> None:
    result = run_zoo(*TWO_TINY_TRIALS, "--sampler", "random", "--seed", "0", *TINY, cwd=tmp_path)
    assert "Number of finished trials:  2" in result.stdout
    assert list((tmp_path / "logs" / "sacx").glob(f"report_{ENV_ID}_2-trials-*.csv"))


def test_two_workers_share_a_journal_study(tmp_path: Path) -> None:
    storage = tmp_path / "optuna" / "sacx.log"
    args = [*TWO_TINY_TRIALS, "--storage", str(storage), "--study-name", "shared", *TINY]
    workers = [start_zoo(*args, "--seed", str(seed), cwd=tmp_path) for seed in (1, 2)]
    outputs = [worker.communicate(timeout=150)[0] for worker in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]

    study = journal_study(storage, "shared")
    states = [trial.state for trial in study.trials]
    assert len(states) == 4, states
    assert all(state == optuna.trial.TrialState.COMPLETE for state in states), states

    # A trial of the study can be trained on its own (rl-zoo3 ignores --trial-id 0, hence 1)
    run_zoo(
        "train",
        "--env",
        ENV_ID,
        "-n",
        "150",
        "--eval-freq",
        "-1",
        "--storage",
        str(storage),
        "--study-name",
        "shared",
        "--trial-id",
        "1",
        *TINY,
        cwd=tmp_path,
    )
    # The optimization workers made log folders too: the trained model is in the only one with a model
    (model_path,) = (tmp_path / "logs" / "sacx").glob(f"{ENV_ID}_*/{ENV_ID}.zip")
    model = SACX.load(model_path)
    assert model.retrace_lambda == study.trials[1].params["retrace_lambda"]


def test_unknown_env_gets_a_clear_message(tmp_path: Path) -> None:
    result = run_zoo("train", "--env", "SparseLunarLanderContinuos-v0", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "unknown environment 'SparseLunarLanderContinuos-v0'" in result.stderr
    assert f"Did you mean '{ENV_ID}'" in result.stderr
    assert "Traceback" not in result.stderr

    # Registered, but the SACX config has no entry for it
    result = run_zoo("train", "--env", "CartPole-v1", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "no SACX hyperparameters for 'CartPole-v1'" in result.stderr


def test_missing_rl_zoo_gets_a_clear_message(tmp_path: Path) -> None:
    # None in sys.modules makes `import rl_zoo3` fail as if it were not installed
    code = "import sys; sys.modules['rl_zoo3'] = None; from sb3_sacx.zoo import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code, "train", "--env", ENV_ID],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert ZOO_INSTALL_COMMAND in result.stderr
    assert "Traceback" not in result.stderr

    message = missing_rl_zoo_message(ModuleNotFoundError("No module named 'requests'", name="requests"))
    assert "'requests'" in message and 'pip install "sb3-sacx[zoo]"' in message


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_runs_with_the_zoo_extra(command: str, tmp_path: Path) -> None:
    # SPEC section 6: the zoo extra installs everything the commands import (rl-zoo3's plots need seaborn and scipy,
    # which rl-zoo3 leaves to its own "plots" extra)
    result = run_zoo(command, "--help", cwd=tmp_path)
    assert "usage:" in result.stdout


def test_importing_the_package_does_not_import_rl_zoo() -> None:
    code = "import sys, sb3_sacx, sb3_sacx.zoo; assert 'rl_zoo3' not in sys.modules, 'rl_zoo3 imported'"
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, check=True, timeout=60)


def test_default_conf_file_is_the_repository_one() -> None:
    packaged = Path(default_conf_file())
    assert packaged.is_file()
    assert packaged.read_text() == (REPO_ROOT / "zoo_hyperparams" / "sacx.yml").read_text()
    entries = yaml.safe_load(packaged.read_text())
    assert {"SparseLunarLanderContinuous-v0", "SparseLunarLander-v0", "Pendulum-v1"} <= set(entries)


def test_pendulum_aux_wrapper() -> None:
    import gymnasium as gym

    env = pendulum_aux_wrapper(gym.make("Pendulum-v1"))
    assert env.aux_task_names == ("upright", "still")
    env.reset(seed=0)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert info["aux_rewards"].shape == (2,)
    assert ((info["aux_rewards"] >= 0) & (info["aux_rewards"] <= 1)).all()
    with pytest.raises(ValueError, match="Pendulum"):
        pendulum_aux_wrapper(gym.make("CartPole-v1"))


def test_sampler_search_space_and_merge() -> None:
    # A config written for SAC-Q: every one of its options must leave the SAC-U trials alone
    sacq_options = {"epsilon": 0.1, "step_size": 0.05, "history_length": 2}
    base = {"policy_kwargs": {"net_arch": [32, 32], "critic_action_layer": 1}, "scheduler_kwargs": sacq_options}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen_schedulers = set()
    for _ in range(30):
        trial = study.ask()
        hyperparams = sample_sacx_params(trial, 2, 1, {}, base_hyperparams=base)
        study.tell(trial, 0.0)
        seen_schedulers.add(hyperparams["scheduler"])
        # Sampled values land on SACX's argument names, the config's other policy_kwargs kept
        assert hyperparams["policy_kwargs"]["critic_action_layer"] == 1
        assert hyperparams["policy_kwargs"]["net_arch"] in ([64, 64], [256, 256], [400, 300])
        assert hyperparams["batch_size"] >= hyperparams["retrace_steps"]
        assert hyperparams["gradient_steps"] == hyperparams["train_freq"]
        assert 0.97 <= hyperparams["gamma"] < 1
        assert 0 <= hyperparams["retrace_lambda"] <= 1
        # Either scheduler takes the floor on the main intention's share; SAC-U takes no SAC-Q options
        expected = {*sacq_options, "temperature"} if hyperparams["scheduler"] == "sac-q" else set()
        assert set(hyperparams["scheduler_kwargs"]) == expected | {"min_main_probability"}
        assert hyperparams["scheduler_kwargs"]["min_main_probability"] in (0.0, 0.25, 0.5, 0.75)
        SACX("MlpPolicy", "SparseMountainCarContinuous-v0", **{**hyperparams, "buffer_size": 1_000})
        for key in ("learning_rate", "buffer_size", "tau", "learning_starts", "schedule_period"):
            assert key in hyperparams
    assert seen_schedulers == {"sac-u", "sac-q"}


def test_sampler_leaves_pinned_values_alone() -> None:
    pinned = {"batch_size": 4, "scheduler": "sac-q", "policy_kwargs": {"net_arch": [8]}}
    trial = optuna.create_study().ask()
    hyperparams = sample_sacx_params(trial, 2, 1, {}, base_hyperparams=pinned, fixed=pinned_keys(pinned))
    assert not {"batch_size", "scheduler", "policy_kwargs"} & set(hyperparams)
    assert "temperature" in hyperparams["scheduler_kwargs"]
    # batch_size pinned below a sampled retrace_steps: retrace_steps gives way
    assert hyperparams["retrace_steps"] <= 4


def test_sampler_search_space_is_unchanged() -> None:
    """Names, ranges, choices and order of the draws, so that a seeded study draws what it drew before; and what pins each."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    # Searched hyperparameter -> (its distribution, the keys that pin it), in the order of the trial.suggest_* calls
    search_space = {
        "one_minus_gamma": (FloatDistribution(0.0001, 0.03, log=True), ("gamma",)),
        "learning_rate": (FloatDistribution(1e-5, 0.002, log=True), ("learning_rate",)),
        "batch_size_pow": (IntDistribution(5, 10), ("batch_size",)),
        "buffer_size": (CategoricalDistribution([100_000, 300_000, 1_000_000]), ("buffer_size",)),
        "tau": (FloatDistribution(0.001, 0.08, log=True), ("tau",)),
        "train_freq": (CategoricalDistribution([1, 2, 4, 8]), ("train_freq", "gradient_steps")),
        "learning_starts": (CategoricalDistribution([1_000, 5_000, 10_000, 20_000]), ("learning_starts",)),
        "net_arch": (CategoricalDistribution(["small", "medium", "big"]), ("policy_kwargs.net_arch",)),
        "retrace_steps": (CategoricalDistribution([1, 2, 4, 8, 16]), ("retrace_steps",)),
        "retrace_lambda": (CategoricalDistribution([0.5, 0.75, 0.9, 0.95, 1.0]), ("retrace_lambda",)),
        "scheduler": (CategoricalDistribution(["sac-u", "sac-q"]), ("scheduler",)),
        "schedule_period": (CategoricalDistribution([50, 100, 250, 500]), ("schedule_period",)),
        "min_main_probability": (CategoricalDistribution([0.0, 0.25, 0.5, 0.75]), ("scheduler_kwargs.min_main_probability",)),
        "sacq_temperature": (FloatDistribution(0.01, 2.0, log=True), ("scheduler_kwargs.temperature",)),
    }
    study = optuna.create_study()

    def draws(scheduler: str, **kwargs: Any) -> dict[str, Any]:
        # The scheduler a trial draws, when it draws one, is fixed: it decides whether the temperature is drawn
        study.enqueue_trial({"scheduler": scheduler})
        trial = study.ask()
        sample_sacx_params(trial, 2, 1, {}, **kwargs)
        return trial.distributions

    expected = {name: distribution for name, (distribution, _) in search_space.items()}
    assert list(draws("sac-q").items()) == list(expected.items())
    assert list(draws("sac-u").items()) == [item for item in expected.items() if item[0] != "sacq_temperature"]
    for name, (_, keys) in search_space.items():
        for key in keys:
            drawn = draws("sac-q", base_hyperparams={"scheduler": "sac-q"}, fixed={key})
            assert list(drawn) == [other for other in expected if other != name], key
    # Neither pinned nor configured, the scheduler is SACX's default, SAC-U: no temperature
    assert "sacq_temperature" not in draws("sac-q", fixed={"scheduler"})


def test_converter_falls_back_on_sacx_defaults() -> None:
    defaults = inspect.signature(SACX).parameters
    # A temperature without SAC-Q, configured or default, is dropped
    assert convert_sacx_params({"sacq_temperature": 0.5}) == {"scheduler_kwargs": None}
    assert convert_sacx_params({"sacq_temperature": 0.5}, {"scheduler": "sac-q"}) == {"scheduler_kwargs": {"temperature": 0.5}}
    # A retrace_steps longer than the batch gives way to the configured batch_size, or to SACX's default one
    assert convert_sacx_params({"retrace_steps": 4096}) == {"retrace_steps": defaults["batch_size"].default}
    assert convert_sacx_params({"retrace_steps": 4096}, {"batch_size": 64}) == {"retrace_steps": 64}
    # A sampled batch_size shorter than SACX's default retrace_steps gives way to it
    assert convert_sacx_params({"batch_size_pow": 0}) == {"batch_size": defaults["retrace_steps"].default}


def test_converter_rebuilds_a_trial() -> None:
    params = {"one_minus_gamma": 0.01, "batch_size_pow": 6, "net_arch": "small", "scheduler": "sac-q", "sacq_temperature": 0.1}
    assert convert_sacx_params({**params, "min_main_probability": 0.25}) == {
        "gamma": 0.99,
        "batch_size": 64,
        "policy_kwargs": {"net_arch": [64, 64]},
        "scheduler": "sac-q",
        "scheduler_kwargs": {"temperature": 0.1, "min_main_probability": 0.25},
    }


def test_rl_zoo_not_imported_by_these_tests() -> None:
    assert "rl_zoo3" not in sys.modules
