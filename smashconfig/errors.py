"""Every error smashconfig raises for a user mistake.

One base class, :class:`SmashConfigError`; each subclass also derives from the builtin a
Python user would catch (``KeyError``, ``ValueError``, ``TypeError``, ``ImportError``,
``FileNotFoundError``, ``OSError``, ``RuntimeError``). Every message names the key, the value given and
what is allowed.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple


class SmashConfigError(Exception):
    """Base class of every smashconfig error.

    ``key`` is the configuration key (or file key path) the error is about, when there is one;
    ``source`` is where that key came from in a file (``"config.yaml:4"``), filled in by loaders.
    """

    def __init__(self, message: str, *, key: Optional[str] = None) -> None:
        message = shorten(message, MESSAGE_LIMIT)
        super().__init__(message)
        self.message = message
        self.key = key
        self.location: Optional[Tuple[str, ...]] = None
        """Where in a nested config (dict or file) the offending key sits: ``("quanto", "weight_bits")``."""
        self.source: Optional[str] = None

    def __str__(self) -> str:
        return self.message if self.source is None else f"{self.source}: {self.message}"


class UnknownKeyError(SmashConfigError, KeyError):
    """A configuration key that no registered algorithm defines."""


class UnknownPathError(SmashConfigError, KeyError):
    """A module path that the model, or an explanation of it, does not have."""


class UnknownAlgorithmError(SmashConfigError, KeyError, ValueError):
    """An algorithm name that is not registered (usually a typo)."""


class InactiveAlgorithmError(SmashConfigError, KeyError, ValueError):
    """A hyperparameter of an algorithm that is not active in the config."""


class IllegalValueError(SmashConfigError, ValueError):
    """A value outside what a hyperparameter allows."""


class WrongTypeError(IllegalValueError, TypeError):
    """A value of the wrong type, such as ``"32"`` where an integer is wanted."""


class GroupConflictError(SmashConfigError, ValueError):
    """Two algorithms of one group (only one quantizer, one adapter, ... at a time)."""


class ModelTypeError(SmashConfigError, TypeError):
    """A model that is neither an ``nn.Module`` nor an object whose attributes are ``nn.Module``s."""


class ModelChoiceError(SmashConfigError, ValueError):
    """A ``--model`` value that is neither a built-in demo model nor a local model directory."""


class TargetModulesError(SmashConfigError, ValueError):
    """A ``target_modules`` value that is not a valid ``TARGET_MODULES_TYPE``."""


class TargetModulesTypeError(TargetModulesError, TypeError):
    """A ``target_modules`` value of the wrong type (not a dict, a non-string pattern)."""


class NoTargetsError(TargetModulesError):
    """Patterns that select no module of the model."""


class TargetPatternError(TargetModulesError):
    """A classic pattern mistake, raised instead of a warning under ``strict=True``."""


class ConfigFileError(SmashConfigError, ValueError):
    """A YAML or JSON config that cannot be read: malformed, unsafe, or not a mapping."""


class ConfigFileNotFoundError(SmashConfigError, FileNotFoundError):
    """A config path that does not exist."""


class ConfigFileAccessError(SmashConfigError, OSError):
    """A config file that cannot be read or written: no permission, a name too long, a directory."""


class MissingBackendError(SmashConfigError, ImportError):
    """An algorithm whose backend package is not installed."""


class RegistryError(SmashConfigError, ValueError):
    """An algorithm that cannot be registered (duplicate name, clashing hyperparameters)."""


class PlanError(SmashConfigError, ValueError):
    """A config that cannot be applied to this model (incompatible, missing data, wrong device)."""


class SmashError(SmashConfigError, RuntimeError):
    """A step that failed while changing the model; the model has been restored."""

    def __init__(self, message: str, *, step: Optional[str] = None, module: Optional[str] = None) -> None:
        super().__init__(message)
        self.step = step
        self.module = module


class UnsafeOperationError(SmashConfigError, RuntimeError):
    """An operation that would silently lose work, such as merging LoRA into a quantized base."""


class SavedModelError(SmashConfigError, ValueError):
    """A saved smashed-model directory that is incomplete, tampered with, or does not fit the model."""


class SavedModelFileError(SavedModelError, OSError):
    """A file or directory of a saved model that cannot be read or written: missing, unreadable, a
    symbolic link, too long a path, an existing save not to be overwritten, or the model's own source."""


class CoverageWarning(UserWarning):
    """A step acts on less than half of the parameters outside the embeddings and the head."""


class TargetPatternWarning(UserWarning):
    """A target pattern that probably does something other than meant (see ``explain_targets``)."""


MESSAGE_LIMIT = 2000
"""Longest error message kept whole; a longer one keeps its start and end."""


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters, without rendering more of a huge value than that.

    Containers show their first items only (a YAML alias bomb expands to billions of them);
    an integer of thousands of digits shows how many it has.
    """
    import reprlib

    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 3 * limit:
        return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = limit
    shortener.maxlevel, shortener.maxdict, shortener.maxlist, shortener.maxtuple = 3, 8, 8, 8
    shortener.maxset = shortener.maxfrozenset = shortener.maxdeque = shortener.maxarray = 8
    try:
        text = shortener.repr(value)
    except Exception:  # a value whose repr fails: its type still says what it is
        text = f"<{type(value).__name__} object>"
    return shorten(text, limit)


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cut to at most ``limit`` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    cut = f"... ({len(text) - limit} characters cut) ..."
    keep = max(limit - len(cut), 8)
    return text[: keep * 3 // 4] + cut + text[len(text) - keep // 4 :]


def describe(value: Any) -> str:
    """A short, unambiguous rendering of a user value for error messages: ``'32' (str)``."""
    return f"{short_repr(value)} ({type(value).__name__})"
