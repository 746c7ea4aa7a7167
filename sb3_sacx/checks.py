"""
Checks of one value, naming the argument: a ``ValueError`` for a bad value, a ``TypeError`` for a wrong type. SACX's
rules, which use them, are in :mod:`sb3_sacx.validation`; the schedulers' and the benchmarks' use them too.
"""

from typing import Any, Optional

import numpy as np

from sb3_sacx.errors import HyperparameterTypeError


def check_number(
    name: str,
    value: Any,
    minimum: Optional[float] = None,
    maximum: Optional[float] = None,
    integer: bool = False,
    minimum_included: bool = True,
    maximum_included: bool = True,
) -> None:
    """
    Raise :class:`HyperparameterTypeError` (a ``TypeError`` and a ``ValueError``) if ``value`` is not a (whole) number,
    ``ValueError`` if it is outside the range.

    :param name: the argument's name, for the message.
    :param value: the argument's value.
    :param minimum: the lowest value allowed (None: no lower bound).
    :param maximum: the highest value allowed (None: no upper bound).
    :param integer: whether ``value`` must be a whole number (an ``int``, not a float).
    :param minimum_included: whether ``minimum`` itself is allowed.
    :param maximum_included: whether ``maximum`` itself is allowed.
    """
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if not isinstance(value, kinds) or isinstance(value, (bool, np.bool_)):
        raise HyperparameterTypeError(
            f"{name} must be {'an int' if integer else 'a number'}, got {type(value).__name__} ({value!r})."
        )
    below = minimum is not None and (value < minimum if minimum_included else value <= minimum)
    above = maximum is not None and (value > maximum if maximum_included else value >= maximum)
    if below or above or not np.isfinite(value):
        low = "-inf" if minimum is None else f"{'[' if minimum_included else '('}{minimum}"
        high = "inf" if maximum is None else f"{maximum}{']' if maximum_included else ')'}"
        raise ValueError(f"{name} must be in {low}, {high}, got {value}.")


def check_auto_or_number(name: str, value: Any, auto_value: bool = False, **bounds: Any) -> None:
    """
    Check that ``value`` is ``"auto"`` (or ``"auto_<number>"`` where ``auto_value``), or a number within ``bounds``.

    :param name: the argument's name, for the message.
    :param value: the argument's value.
    :param auto_value: whether ``"auto_<initial value>"`` is allowed (SB3's ``ent_coef``).
    :param bounds: :func:`check_number`'s range arguments, for the number or the initial value.
    """
    if isinstance(value, str):
        if value == "auto":
            return
        initial = value[len("auto_") :] if auto_value and value.startswith("auto_") else None
        try:
            check_number(f"the initial value of {name}", float(initial), **bounds)  # type: ignore[arg-type]
        except (TypeError, ValueError) as error:
            usage = "'auto', 'auto_<initial value>' or a number" if auto_value else "'auto' or a number"
            raise ValueError(f"{name} must be {usage}, got {value!r}.") from error
        return
    check_number(name, value, **bounds)


def check_train_freq(train_freq: Any) -> None:
    """
    Check SB3's ``train_freq``: a positive int, or ``(positive int, "step" | "episode")`` (or SB3's ``TrainFreq``).

    :param train_freq: the argument as the user gave it.
    """
    if isinstance(train_freq, tuple):
        if len(train_freq) != 2 or train_frequency_unit(train_freq) not in ("step", "episode"):
            raise ValueError(f"train_freq must be an int or a tuple (frequency, 'step' or 'episode'), got {train_freq!r}.")
        check_number("train_freq", train_freq[0], minimum=1, integer=True)
    else:
        check_number("train_freq", train_freq, minimum=1, integer=True)


def train_frequency_unit(train_freq: Any) -> Any:
    """
    ``"step"`` or ``"episode"`` for ``train_freq`` as the user gives it or as SB3 stores it (``TrainFreq``).

    :param train_freq: an int, a ``(frequency, unit)`` tuple or SB3's ``TrainFreq``.
    :return: the unit, as a string.
    """
    if not isinstance(train_freq, tuple):
        return "step"
    return getattr(train_freq[1], "value", train_freq[1])  # SB3's TrainFrequencyUnit is an Enum of those strings
