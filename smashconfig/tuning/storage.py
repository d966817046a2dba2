"""Where a study lives: an SQLite file by default, or any Optuna storage URL shared by workers."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, List, Optional

from smashconfig.errors import MissingBackendError
from smashconfig.tuning.errors import StorageError

if TYPE_CHECKING:
    import optuna

    from smashconfig.tuning.objectives import Objective

logger = logging.getLogger("smashconfig")

DEFAULT_STORAGE = "smashconfig-tune.db"
SQLITE_TIMEOUT_S = 60
OPEN_ATTEMPTS = 5


def import_optuna():  # type: ignore[no-untyped-def]
    """The ``optuna`` package, or an error naming the extra that brings it."""
    try:
        import optuna
    except ImportError:
        raise MissingBackendError('tune needs the package optuna; install it with: pip install "smashconfig[tune]"') from None
    return optuna


def storage_url(storage: Optional[str]) -> str:
    """An Optuna storage URL: ``storage`` as given when it is a URL, else an SQLite file path."""
    if storage is None:
        storage = DEFAULT_STORAGE
    if not isinstance(storage, str) or not storage:
        raise StorageError(f"storage takes a URL such as 'sqlite:///tune.db' or a file path; got {storage!r}.")
    return storage if "://" in storage else f"sqlite:///{Path(storage).resolve()}"


def open_storage(url: str) -> "optuna.storages.BaseStorage":
    """The storage at ``url``, connected now so that an unreachable one fails before any trial."""
    optuna = import_optuna()
    engine = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite:") else None
    if url.startswith("sqlite:///"):
        folder = Path(url[len("sqlite:///") :]).parent
        if not folder.is_dir():
            raise StorageError(f"storage {url!r}: the folder {str(folder)!r} does not exist.")
    attempt = 0
    while True:
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine)
        except Exception as error:  # SQLAlchemy and drivers raise many kinds; all mean "cannot use it"
            attempt += 1
            if attempt < OPEN_ATTEMPTS and _racing(error):
                time.sleep(0.5 * attempt)
                continue
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise StorageError(f"storage {url!r} cannot be opened: {reason}") from None


def _racing(error: Exception) -> bool:
    """Whether another worker creating the same new database at the same moment explains ``error``."""
    text = str(error)
    return type(error).__name__ == "IntegrityError" or "database is locked" in text or "already exists" in text


def open_study(
    storage: "optuna.storages.BaseStorage",
    name: str,
    objectives: List["Objective"],
    fingerprint: str,
    seed: Optional[int],
) -> "optuna.Study":
    """The study ``name`` (created, or loaded to resume); one made by a different search is refused."""
    optuna = import_optuna()
    directions = [objective.direction for objective in objectives]
    existing = {summary.study_name for summary in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    resumed = name in existing
    offset = 0
    if resumed:
        offset = len(storage.get_all_trials(storage.get_study_id_from_name(name), deepcopy=False))
    sampler = optuna.samplers.TPESampler(seed=None if seed is None else seed + offset)
    study = optuna.create_study(
        storage=storage, study_name=name, directions=directions, sampler=sampler, load_if_exists=True
    )
    names = [objective.name for objective in objectives]
    recorded = study.user_attrs.get("search")
    if recorded is None:
        study.set_user_attr("search", fingerprint)
        study.set_user_attr("objectives", names)
    elif recorded != fingerprint or study.user_attrs.get("objectives") != names:
        raise StorageError(
            f"study {name!r} was made by a different search or with other objectives "
            f"({study.user_attrs.get('objectives')}); give another study name to start a new one."
        )
    logger.info("%s study %r (%d trials so far)", "resuming" if resumed else "new", name, offset)
    return study


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's own log lines off while a search runs (the search logs what matters), restored afterwards."""
    optuna = import_optuna()
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)
