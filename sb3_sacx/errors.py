"""
Every exception SACX raises of its own. Each is also the built-in exception a user (or SB3's own tests) would expect
there: a ``ValueError`` for a bad value and a ``TypeError`` for a wrong type of value (SPEC section 3), and where SB3
raises an ``AssertionError`` or ``NotImplementedError`` for the same input, that too.
"""

#: Exit status for a bad command line, as argparse's.
USAGE_EXIT_STATUS = 2


class AuxTasksNotFoundError(ValueError, TypeError):
    """The environment has no ``AuxRewardWrapper``: a bad ``env`` value, of the wrong kind of environment."""


class UnknownTaskError(ValueError, KeyError):
    """A task name that is not among the model's ``task_names``."""

    def __str__(self) -> str:
        return str(self.args[0])


class UnsupportedSpaceError(TypeError, ValueError):
    """An observation or action space SACX cannot handle (both a wrong type and a bad value of ``env``)."""


class NestedSpaceError(UnsupportedSpaceError, NotImplementedError):
    """A Dict observation space with a Dict or Tuple inside: also the ``NotImplementedError`` that SB3 raises for it."""


class PolicySpaceError(UnsupportedSpaceError, AssertionError):
    """Observations a policy alias's features extractor cannot read: also the ``AssertionError`` SB3's CNN raises for them."""


class EnvCountError(ValueError, AssertionError):
    """A new env with another number of envs than the model's: also the ``AssertionError`` that SB3's ``set_env`` raises."""


class HyperparameterTypeError(TypeError, ValueError):
    """A hyperparameter of the wrong type: a ``TypeError``, and a ``ValueError`` as SB3 raises for e.g. ``train_freq="4"``."""


class ZooCommandError(Exception):
    """A problem with ``python -m sb3_sacx.zoo``'s command line or the installation, reported without a traceback."""

    def __init__(self, message: str, exit_code: int = USAGE_EXIT_STATUS) -> None:
        super().__init__(message)
        self.exit_code = exit_code
