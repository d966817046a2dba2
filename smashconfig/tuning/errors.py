"""Errors of the search that have no counterpart among the config errors."""

from __future__ import annotations

from smashconfig.errors import SmashConfigError, SmashError


class StorageError(SmashConfigError, OSError):
    """An Optuna storage that cannot be opened, or a study that belongs to another search."""


class ModelNotRestoredError(SmashError):
    """A trial changed tensors of the user's model in place, so the search cannot go on."""


class OutputDirectoryError(SmashConfigError, OSError):
    """A folder for the search's results that cannot be made or written."""
