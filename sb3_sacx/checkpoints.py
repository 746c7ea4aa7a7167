"""
Checkpoints that an interruption cannot corrupt: a model, its replay buffer and a small JSON record, saved as one
directory that is always either the previous complete checkpoint or the new complete one, never a mix of the two.

A long run saved with ``model.save`` and ``model.save_replay_buffer`` one after the other can be stopped between the
two (or half-way through either), leaving a model and a buffer of different steps, or a truncated file. Here each save
is written whole into ``<directory>.partial`` and then renamed into place, the previous checkpoint kept as
``<directory>.previous`` until the new one is in place. Renames within a file system are atomic, so a process killed
at any point leaves a complete checkpoint that :func:`restore_checkpoint` puts back where ``model.zip`` is looked for::

    save_checkpoint(model, Path("runs/my_run"), {"seed": 0})
    ...
    record = restore_checkpoint(Path("runs/my_run"))  # None: no checkpoint yet
    if record is not None:
        model = SACX.load("runs/my_run/model.zip", env=env)
        model.load_replay_buffer("runs/my_run/replay_buffer.pkl")
"""

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional, Union

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

#: File names inside a checkpoint directory.
MODEL_FILE, REPLAY_BUFFER_FILE, RECORD_FILE = "model.zip", "replay_buffer.pkl", "checkpoint.json"


def _sibling(directory: Path, suffix: str) -> Path:
    return directory.with_name(directory.name + suffix)


def save_checkpoint(model: OffPolicyAlgorithm, directory: Path, record: Mapping[str, Any]) -> None:
    """
    Save ``model``, its replay buffer and ``record`` (with the model's ``num_timesteps`` added) as the checkpoint in
    ``directory``, replacing the one there only once the new one is complete.

    :param model: an off-policy model (SACX, SAC, DQN, ...).
    :param directory: the checkpoint's directory (created, with its parents, if missing).
    :param record: JSON-serialisable facts to keep with the checkpoint (what run it belongs to, say).
    """
    directory = Path(directory)
    partial, previous = _sibling(directory, ".partial"), _sibling(directory, ".previous")
    restore_checkpoint(directory)  # a save interrupted earlier leaves nothing in the way of this one
    partial.mkdir(parents=True)
    model.save(partial / MODEL_FILE)
    model.save_replay_buffer(partial / REPLAY_BUFFER_FILE)
    (partial / RECORD_FILE).write_text(json.dumps({**record, "num_timesteps": model.num_timesteps}, indent=1))
    if directory.exists():
        os.replace(directory, previous)
    os.replace(partial, directory)
    # Only now: until the rename above, the previous checkpoint was the complete one
    shutil.rmtree(previous, ignore_errors=True)


def checkpoint_record(directory: Path) -> Optional[dict[str, Any]]:
    """
    The record of the complete checkpoint in ``directory`` (read only: nothing is moved), or None where there is none.

    :param directory: the checkpoint's directory.
    :return: the record given to :func:`save_checkpoint`, with ``num_timesteps``; for a save interrupted after the
        previous checkpoint was moved aside, that previous checkpoint's.
    """
    directory = Path(directory)
    for candidate in (directory, _sibling(directory, ".previous")):
        if (candidate / RECORD_FILE).is_file():
            return json.loads((candidate / RECORD_FILE).read_text())
    return None


def restore_checkpoint(directory: Path) -> Optional[dict[str, Any]]:
    """
    Finish or undo a save that was interrupted, so that ``directory`` holds the last complete checkpoint (if any), and
    return its record.

    :param directory: the checkpoint's directory.
    :return: as :func:`checkpoint_record`.
    """
    directory = Path(directory)
    partial, previous = _sibling(directory, ".partial"), _sibling(directory, ".previous")
    shutil.rmtree(partial, ignore_errors=True)  # never complete: its rename into place is a save's last step
    if previous.exists():
        if (directory / RECORD_FILE).is_file():
            shutil.rmtree(previous)  # the new checkpoint was in place
        else:
            shutil.rmtree(directory, ignore_errors=True)
            os.replace(previous, directory)
    return checkpoint_record(directory)


def save_model(model: BaseAlgorithm, path: Union[str, Path]) -> Path:
    """
    ``model.save(path)`` written whole or not at all: to a temporary file beside it, renamed into place as the last
    step, so that a stop (Ctrl-C, SIGKILL) half-way leaves any model already at ``path`` as it was.

    :param model: any SB3 model.
    :param path: where to save it; ``.zip`` is added if missing, as SB3 does.
    :return: the path of the saved file.
    """
    final = Path(path)
    if final.suffix != ".zip":
        final = final.with_name(final.name + ".zip")
    temporary = final.with_name(f".{final.name}.partial.zip")
    try:
        model.save(temporary)
    except BaseException:  # Ctrl-C included: nothing half-written is left behind
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, final)
    return final
