"""What goes wrong for a user's reasons, as exception types: one line each, never a traceback.

The command line and the HTTP service turn exactly these into a one-line message
(exit code 1, or a 4xx answer); anything else is a bug and shows as one.
"""

from __future__ import annotations


class DataFileError(Exception):
    """A whole file or table cannot be used; the message names it and the problem."""


class ContractError(ValueError):
    """A whole table breaks the contract (e.g. a required column is missing)."""


class ScoringError(Exception):
    """The request as a whole cannot be scored; the message is one line."""


class ModelNotFound(ScoringError):
    """No usable model where one was asked for (missing, corrupt, or too old)."""


class ModelUnreachable(ModelNotFound):
    """The model's store did not answer (a server down, a request that timed out): the
    model may be fine, so nothing may be concluded about it."""


class SettingError(ValueError):
    """A setting no run can use (a budget of 0, a share above 1, an unknown flag)."""


class RejectedRowsWarning(UserWarning):
    """score() left out rows that break the contract (score_with_rejects says why)."""


class MissingExtra(ImportError):
    """A part of the package whose optional dependencies a plain install leaves out; the
    message names the `pip install` that adds them."""


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# Everything a command reports in one line.
USER_ERRORS = (DataFileError, ContractError, ScoringError, SettingError, MissingExtra)
