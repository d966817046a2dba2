"""``save_smashed`` / ``load_smashed``: a smashed model as safetensors, its config as YAML, its plan as JSON.

Saving goes through a temporary directory beside the target (see :mod:`smashconfig.apply.save_target`).
Loading checks everything it reads before it allocates (:mod:`smashconfig.apply.saved_files`,
:mod:`smashconfig.apply.tensor_file`), replays the plan on an unsmashed model — given, or built
from the saved config — without computing anything from full precision, then assigns the saved
tensors, each read once into a fresh allocation. A manifest of SHA-256 checksums guards against
incomplete or edited directories; nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

from smashconfig.apply.model_state import (
    assign,
    check_layout,
    deduplicated,
    expected_layout,
    non_persistent_buffers,
    state_tensors,
)
from smashconfig.apply.save_target import as_path, check_save_directory, source_directories, write_directory
from smashconfig.apply.saved_files import (
    CONFIG,
    FILES,
    FORMAT,
    MANIFEST,
    PLAN,
    WEIGHTS,
    changed_after_saving,
    digest_of,
    read_manifest,
    read_plan,
)
from smashconfig.errors import SavedModelError, SavedModelFileError, SmashConfigError

if TYPE_CHECKING:
    from smashconfig.plan.smash_plan import SmashPlan

__all__ = [
    "save_smashed",
    "load_smashed",
    "check_save_directory",
    "source_directories",
    "check_fits",
    "state_tensors",
    "non_persistent_buffers",
]

logger = logging.getLogger("smashconfig")


def save_smashed(model: Any, directory: Union[str, Path], *, overwrite: bool = False) -> Path:
    """Write ``model`` (smashed, with ``model.smash_plan``) to ``directory``; returns the directory.

    Refused before anything is written: a directory that already holds files (unless
    ``overwrite=True``), a symbolic link, or the directory the model was loaded from. The files
    appear together or not at all.
    """
    from smashconfig.plan.smash_plan import SmashPlan

    plan = getattr(model, "smash_plan", None)
    if not isinstance(plan, SmashPlan):
        raise SavedModelError(
            f"{type(model).__name__} has no smash_plan: save_smashed saves models returned by smash()."
        )
    directory = check_save_directory(directory, overwrite=overwrite, sources=source_directories(model))
    tensors, aliases = deduplicated(state_tensors(model))
    buffers = non_persistent_buffers(model)
    overlap = set(buffers) & set(tensors)
    if overlap:
        raise SavedModelError(f"tensor names collide between state and non-persistent buffers: {sorted(overlap)[:5]}")
    tensors.update(buffers)
    from smashconfig.apply.model_source import describe_model

    manifest_body = {
        "format": FORMAT,
        "version": 1,
        "smashconfig": plan.version,
        "aliases": aliases,
        "non_persistent_buffers": sorted(buffers),
        "state": {
            step.algorithm: algorithm.saved_state(model, step.acted, step.params)
            for step, algorithm in zip(plan.steps, _algorithms(plan))
        },
        "model": describe_model(model),
    }

    def write(folder: Path) -> None:
        from safetensors.torch import save_file

        from smashconfig.config.files import dump_yaml

        save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(folder / WEIGHTS))
        (folder / PLAN).write_text(plan.to_json(), encoding="utf-8")
        dump_yaml(plan.config, folder / CONFIG)
        manifest = {**manifest_body, "files": {name: _sha256(folder / name) for name in (WEIGHTS, PLAN, CONFIG)}}
        manifest["manifest_sha256"] = digest_of(manifest)
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")

    try:
        write_directory(directory, FILES, write, overwrite=overwrite)
    except OSError as error:
        if isinstance(error, SavedModelError):
            raise
        raise SavedModelFileError(f"cannot save to {directory}: {error.strerror or error}; nothing was written.") from None
    logger.info("saved smashed %s to %s", type(model).__name__, directory)
    return directory


def load_smashed(directory: Union[str, Path], model: Optional[Any] = None) -> Any:
    """Rebuild the saved smashed model and return it.

    With ``model`` (unsmashed, possibly on the meta device), the smashed structure is rebuilt on
    it; without, the model is first built from the config saved with it (transformers and
    diffusers models and pipelines). The plan is replayed without re-quantizing, then the saved
    tensors are assigned; outputs equal the saved model's. Every value read is checked first: a
    directory that is incomplete or edited, or a model that does not fit the plan, is a
    :class:`SavedModelError` and the model is left as it was.
    """
    directory = as_path(directory)
    manifest = read_manifest(directory)
    plan = read_plan(directory)
    if model is None:
        from smashconfig.apply.model_source import build_model

        model = build_model(manifest.get("model"), str(directory))
    check_fits(plan, model)
    algorithms = _algorithms(plan)
    for algorithm in algorithms:
        algorithm.check_backend()
        algorithm.import_backend()
    _check_aliases(manifest, directory)
    _rebuild_and_assign(directory, manifest, plan, algorithms, model)
    model.smash_plan = plan
    model.smash_source = str(directory)  # save_smashed will not write back into it
    return model


def _rebuild_and_assign(directory: Path, manifest: Dict[str, Any], plan: "SmashPlan", algorithms: List[Any], model: Any) -> None:
    """Read the weights (one pass, checksum checked), rebuild the structure, check the layout, assign.

    The file is read before the model changes: a damaged or edited file leaves it untouched.
    Then any failure (a tensor of the wrong name, shape or dtype) restores the model.
    """
    from smashconfig.apply.smash import rebuild_smashed
    from smashconfig.apply.snapshot import ModelSnapshot
    from smashconfig.apply.tensor_file import read_header, read_tensors

    with _open(directory / WEIGHTS) as (handle, size):
        header = read_header(handle, directory / WEIGHTS, size)
        digest = hashlib.sha256()
        tensors = read_tensors(handle, header, digest)
    if digest.hexdigest() != manifest["files"][WEIGHTS]:
        raise changed_after_saving(directory / WEIGHTS)
    found = {name: (tuple(tensor.shape), tensor.dtype) for name, tensor in tensors.items()}

    snapshot = ModelSnapshot(model)
    rebuild_smashed(model, plan)
    try:
        changes: Dict[str, Any] = {}
        for step, algorithm in zip(plan.steps, algorithms):
            changes.update(algorithm.saved_layout(model, step.acted, step.params))
        expected = expected_layout(model, changes, manifest["aliases"], manifest["non_persistent_buffers"])
        check_layout(found, expected, str(directory / WEIGHTS))
        buffers = {name: tensors.pop(name) for name in manifest["non_persistent_buffers"] if name in tensors}
        assign(model, tensors, buffers, manifest["aliases"])
        for step, algorithm in zip(plan.steps, algorithms):
            algorithm.restore_state(model, step.acted, step.params, manifest["state"].get(step.algorithm, {}))
    except BaseException as error:
        snapshot.restore()
        if isinstance(error, SavedModelError) or not isinstance(error, Exception):
            raise
        raise SavedModelError(f"{directory}: the saved tensors do not fit {type(model).__name__}: {error}") from error


class _open:
    """``with _open(path) as (handle, size)``: the file opened for reading, OS errors as SavedModelFileError."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Any:
        import os

        try:
            self.handle = open(self.path, "rb")
            return self.handle, os.fstat(self.handle.fileno()).st_size
        except OSError as error:
            raise SavedModelFileError(f"cannot read {self.path}: {error.strerror or error}.", key=self.path.name) from None

    def __exit__(self, *exc: Any) -> None:
        self.handle.close()


def _check_aliases(manifest: Dict[str, Any], directory: Path) -> None:
    aliases = manifest["aliases"]
    for alias, canonical in aliases.items():
        if canonical in aliases or alias == canonical:
            raise SavedModelError(f"{directory / MANIFEST}: alias {alias!r} names another alias {canonical!r}.", key=alias)


def check_fits(plan: "SmashPlan", model: Any) -> None:
    """``model`` resolves exactly as the plan recorded, and is not smashed already."""
    from smashconfig.contract.registry import default_registry
    from smashconfig.target_modules.tree import index_modules

    index = index_modules(model)
    changed_by = default_registry().changed_by
    smashed = [
        path
        for step in plan.steps
        for path in step.acted
        if path in index and changed_by(index.module(path)) is not None
    ]
    if smashed or getattr(model, "smash_plan", None) is not None:
        where = f" at {', '.join(smashed[:5])}" if smashed else ""
        raise SavedModelError(
            f"{type(model).__name__} is already smashed{where}; load_smashed needs the unsmashed model (for example "
            "built from its config on the meta device), or none: load_smashed(directory) builds it."
        )
    try:
        plan.check_values()
    except SmashConfigError as error:
        raise SavedModelError(f"the saved plan holds values the config space refuses: {error}") from None
    diff = plan.verify(model)
    if not diff.ok:
        raise SavedModelError(f"the saved plan does not fit this model. {diff}")


def _algorithms(plan: "SmashPlan") -> List[Any]:
    from smashconfig.contract.registry import default_registry

    return [default_registry().get(step.algorithm) for step in plan.steps]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

