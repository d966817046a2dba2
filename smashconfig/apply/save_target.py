"""Where a save may go, and how it gets there without losing anything.

A save is refused, before anything is written, when the directory is a symbolic link, is the
directory the model was loaded from, or already holds files (unless ``overwrite=True``). The
files are written into a fresh temporary directory beside the target, then renamed into place:
a save that fails leaves nothing half-written, and no write ever follows a symbolic link.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional, Sequence

from smashconfig.errors import SavedModelFileError, WrongTypeError, describe

logger = logging.getLogger("smashconfig")


def as_path(directory: Any, what: str = "directory") -> Path:
    """``directory`` as a ``Path``; anything but a non-empty string or path-like is refused."""
    if isinstance(directory, Path):
        return directory
    if isinstance(directory, os.PathLike):
        directory = os.fspath(directory)
    if not isinstance(directory, str):
        raise WrongTypeError(f"{what} must be a path (str or pathlib.Path); got {describe(directory)}.", key=what)
    if not directory.strip() or "\0" in directory:
        raise SavedModelFileError(f"{what} {directory[:80]!r} is not a usable path: give a directory name.", key=what)
    return Path(directory)


def check_save_directory(directory: Any, *, overwrite: bool = False, sources: Iterable[Path] = ()) -> Path:
    """``directory`` as a path, after checking that a save may go there; nothing is written.

    Refused (:class:`SavedModelFileError`): a path whose nearest existing part is not a directory,
    a symbolic link, one of ``sources`` (the directories the model was loaded from), a directory
    that already holds files unless ``overwrite``, and a place where no directory can be created.
    """
    directory = as_path(directory)
    try:
        _check(directory, overwrite, list(sources))
    except OSError as error:
        if isinstance(error, SavedModelFileError):
            raise
        raise SavedModelFileError(f"cannot save to {short_path(directory)}: {error.strerror or error}.") from None
    return directory


def _check(directory: Path, overwrite: bool, sources: List[Path]) -> None:
    existing = next((p for p in (directory, *directory.parents) if os.path.lexists(p)), Path("."))
    if existing == directory and directory.is_symlink():
        raise SavedModelFileError(
            f"cannot save to {short_path(directory)}: it is a symbolic link; smashconfig never writes through one. "
            "Give the real directory."
        )
    if not existing.is_dir():
        where = "it exists" if existing == directory else f"{short_path(existing)} exists"
        raise SavedModelFileError(f"cannot save to {short_path(directory)}: {where} and is not a directory.")
    for source in sources:
        if _same(directory, source):
            raise SavedModelFileError(
                f"cannot save to {short_path(directory)}: the model was loaded from this directory, and its own files "
                "would be replaced. Save to another directory."
            )
    if existing == directory:
        held = sorted(entry.name for entry in os.scandir(directory))
        if held and not overwrite:
            what = (
                "a saved smashed model (smashconfig.json)"
                if "smashconfig.json" in held
                else f"{len(held)} entr{'y' if len(held) == 1 else 'ies'} ({', '.join(held[:3])}{', ...' if len(held) > 3 else ''})"
            )
            raise SavedModelFileError(
                f"cannot save to {short_path(directory)}: it already holds {what}; pass overwrite=True (--overwrite) to "
                "replace a save there, or choose an empty or new directory."
            )
        if not os.access(directory, os.W_OK | os.X_OK):
            raise SavedModelFileError(f"cannot save to {short_path(directory)}: it is not writable.")
    _probe(existing if existing != directory else directory.parent)


def _probe(folder: Path) -> None:
    """Create and remove a directory in ``folder``, as the save will (its temporary directory): the one
    sure test that a save can be made there."""
    probe = folder / f".smashconfig-probe-{secrets.token_hex(4)}"
    os.mkdir(probe)
    os.rmdir(probe)


def _same(directory: Path, source: Path) -> bool:
    try:
        return directory.exists() and source.exists() and os.path.samefile(directory, source)
    except OSError:
        return False


def source_directories(model: Any) -> List[Path]:
    """The local directories ``model`` (or any of its components) says it was loaded from.

    transformers models carry ``name_or_path`` / ``config._name_or_path``; diffusers pipelines and
    models ``config["_name_or_path"]``; a model ``load_smashed`` returned, ``smash_source``. Only
    names of existing directories are returned.
    """
    from smashconfig.target_modules.tree import components

    holders = [model, *components(model).values()]
    names = set()
    for holder in holders:
        config = _attribute(holder, "config")
        pairs = ((holder, "smash_source"), (holder, "name_or_path"), (config, "_name_or_path"), (config, "name_or_path"))
        for owner, attribute in pairs:
            value = _attribute(owner, attribute)
            if isinstance(value, (str, os.PathLike)) and str(value):
                names.add(str(value))
    out = []
    for name in sorted(names):
        try:
            if Path(name).is_dir():
                out.append(Path(name))
        except (OSError, ValueError):
            continue
    return out


def _attribute(owner: Any, name: str) -> Any:
    if owner is None:
        return None
    if isinstance(owner, dict) and name in owner:
        return owner[name]
    try:
        return getattr(owner, name, None)
    except Exception:  # a property that fails is no source of a path
        return None


def write_directory(directory: Path, names: Sequence[str], write: Callable[[Path], None], *, overwrite: bool) -> None:
    """Call ``write(folder)`` on a fresh temporary folder beside ``directory``, then move it into place.

    A new or empty ``directory`` is replaced by the folder in one rename. With ``overwrite``, an
    existing directory that holds other entries keeps them: its manifest (``names[-1]``) goes
    first, each file is renamed over its old name (a symbolic link there is replaced, never
    followed), the manifest comes last. On any failure the temporary folder is removed.
    """
    directory = Path(os.path.abspath(directory))  # "." has a parent to put the temporary folder in
    directory.parent.mkdir(parents=True, exist_ok=True)
    temporary = _fresh_folder(directory)
    try:
        write(temporary)
        _move_into_place(temporary, directory, names, overwrite)
    finally:
        if os.path.lexists(temporary):
            shutil.rmtree(temporary, ignore_errors=True)


def _fresh_folder(directory: Path) -> Path:
    for _ in range(100):
        folder = directory.parent / f".{directory.name}.{secrets.token_hex(4)}.partial"
        try:
            os.mkdir(folder)
            return folder
        except FileExistsError:
            continue
    raise SavedModelFileError(f"cannot create a temporary directory beside {short_path(directory)}.")


def _move_into_place(temporary: Path, directory: Path, names: Sequence[str], overwrite: bool) -> None:
    if not os.path.lexists(directory) or (directory.is_dir() and not directory.is_symlink() and not any(os.scandir(directory))):
        try:
            os.rename(temporary, directory)
            return
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            if not overwrite:  # filled by someone else since the check
                raise SavedModelFileError(f"cannot save to {short_path(directory)}: it was filled while saving.") from None
    folders = [name for name in names if (directory / name).is_dir() and not (directory / name).is_symlink()]
    if folders:
        raise SavedModelFileError(f"cannot save to {short_path(directory)}: {', '.join(folders)} there is a directory.")
    written = [name for name in names if (temporary / name).exists()]
    manifest = names[-1]
    stale = [name for name in names if name not in written and os.path.lexists(directory / name)]
    for name in [manifest, *stale]:
        if os.path.lexists(directory / name):
            os.unlink(directory / name)
    for name in [name for name in written if name != manifest] + [manifest]:
        os.replace(temporary / name, directory / name)
    logger.debug("replaced %s in %s", ", ".join(written), directory)


def short_path(path: Optional[Path]) -> str:
    """``path`` for a message: a very long one keeps its start and its end."""
    text = str(path)
    return text if len(text) <= 200 else text[:100] + "..." + text[-60:]
