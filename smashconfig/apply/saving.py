"""``save_smashed`` / ``load_smashed``: a smashed model as safetensors, its config as YAML, its plan as JSON.

Loading replays the plan on an unsmashed model (which may live on the meta device): each
algorithm rebuilds its structure without computing anything from full precision, then the
saved tensors are assigned. A manifest of SHA-256 checksums guards against incomplete or
edited directories; nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Tuple, Union

from smashconfig.errors import SavedModelError, SmashConfigError

if TYPE_CHECKING:
    import torch

    from smashconfig.plan.smash_plan import SmashPlan

logger = logging.getLogger("smashconfig")

WEIGHTS = "model.safetensors"
CONFIG = "config.yaml"
PLAN = "plan.json"
MANIFEST = "smashconfig.json"
FORMAT = "smashconfig-smashed-model"


def check_save_directory(directory: Union[str, Path]) -> Path:
    """``directory`` as a path, or a :class:`SavedModelError` if it, or its nearest existing parent,
    is something other than a directory."""
    directory = Path(directory)
    existing = next((p for p in (directory, *directory.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = "it exists" if existing == directory else f"{existing} exists"
        raise SavedModelError(f"cannot save to {directory}: {where} and is not a directory.")
    return directory


def save_smashed(model: Any, directory: Union[str, Path]) -> Path:
    """Write ``model`` (smashed, with ``model.smash_plan``) to ``directory``; returns the directory."""
    from safetensors.torch import save_file

    plan = getattr(model, "smash_plan", None)
    if plan is None:
        raise SavedModelError(
            f"{type(model).__name__} has no smash_plan: save_smashed saves models returned by smash()."
        )
    directory = check_save_directory(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors, aliases = _deduplicated(state_tensors(model))
    buffers = non_persistent_buffers(model)
    overlap = set(buffers) & set(tensors)
    if overlap:
        raise SavedModelError(f"tensor names collide between state and non-persistent buffers: {sorted(overlap)}")
    tensors.update(buffers)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(directory / WEIGHTS))
    (directory / PLAN).write_text(plan.to_json(), encoding="utf-8")
    from smashconfig.config.files import dump_yaml

    dump_yaml(plan.config, directory / CONFIG)
    manifest = {
        "format": FORMAT,
        "version": 1,
        "smashconfig": plan.version,
        "files": {name: _sha256(directory / name) for name in (WEIGHTS, PLAN, CONFIG)},
        "aliases": aliases,
        "non_persistent_buffers": sorted(buffers),
        "state": {
            step.algorithm: algorithm.saved_state(model, step.acted, step.params)
            for step, algorithm in zip(plan.steps, _algorithms(plan))
        },
    }
    manifest["manifest_sha256"] = _digest(manifest)
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    logger.info("saved smashed %s to %s", type(model).__name__, directory)
    return directory


def load_smashed(directory: Union[str, Path], model: Any) -> Any:
    """Rebuild the saved smashed model on ``model`` (unsmashed, possibly on the meta device) and return it.

    The plan is replayed without re-quantizing, then the saved tensors are assigned; outputs
    equal the saved model's. A directory that is incomplete or edited, or a model whose modules
    do not fit the plan, is a :class:`SavedModelError` raised before the model changes.
    """
    from safetensors.torch import load_file

    from smashconfig.apply.smash import rebuild_smashed
    from smashconfig.apply.snapshot import ModelSnapshot

    directory = Path(directory)
    manifest = read_manifest(directory)
    plan = read_plan(directory)
    check_fits(plan, model)
    for algorithm in _algorithms(plan):
        algorithm.check_backend()
        algorithm.import_backend()
    tensors = load_file(str(directory / WEIGHTS))
    for alias, canonical in manifest["aliases"].items():
        if canonical not in tensors:
            raise SavedModelError(f"{directory / MANIFEST}: alias {alias!r} names a missing tensor {canonical!r}")
        tensors[alias] = tensors[canonical]
    buffers = {name: tensors.pop(name) for name in manifest["non_persistent_buffers"] if name in tensors}

    snapshot = ModelSnapshot(model)
    rebuild_smashed(model, plan)
    try:
        _assign(model, tensors, buffers, manifest["aliases"])
        for step, algorithm in zip(plan.steps, _algorithms(plan)):
            algorithm.restore_state(model, step.acted, step.params, manifest["state"].get(step.algorithm, {}))
    except Exception as error:
        snapshot.restore()
        if isinstance(error, SavedModelError):
            raise
        raise SavedModelError(f"{directory}: the saved tensors do not fit {type(model).__name__}: {error}") from error
    model.smash_plan = plan
    return model


# ----- reading and checking a directory ------------------------------------------------------------


def read_manifest(directory: Path) -> Dict[str, Any]:
    """The manifest, after checking every file is present and unchanged."""
    if not directory.is_dir():
        raise SavedModelError(f"{directory} is not a directory holding a smashed model.")
    missing = [name for name in (MANIFEST, WEIGHTS, PLAN, CONFIG) if not (directory / name).is_file()]
    if missing:
        raise SavedModelError(f"{directory} is incomplete: missing {', '.join(missing)} (save_smashed writes all four).")
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise ValueError(f"format is {manifest.get('format')!r}, not {FORMAT!r}")
        files, aliases, buffers = manifest["files"], manifest["aliases"], manifest["non_persistent_buffers"]
        state = manifest["state"]
        if not all(isinstance(v, t) for v, t in ((files, dict), (aliases, dict), (buffers, list), (state, dict))):
            raise ValueError("files, aliases, non_persistent_buffers or state has the wrong type")
    except (ValueError, KeyError, TypeError) as error:
        raise SavedModelError(f"{directory / MANIFEST} is not a smashconfig manifest: {error}") from None
    if manifest.get("manifest_sha256") != _digest({k: v for k, v in manifest.items() if k != "manifest_sha256"}):
        raise SavedModelError(
            f"{directory / MANIFEST} does not match its own checksum: it was changed after saving; save the model again."
        )
    for name in (WEIGHTS, PLAN, CONFIG):
        if files.get(name) != _sha256(directory / name):
            raise SavedModelError(
                f"{directory / name} does not match the checksum save_smashed recorded: the directory was "
                "changed after saving (or is damaged); save the model again."
            )
    return manifest


def read_plan(directory: Path) -> "SmashPlan":
    """The saved plan, checked against the saved config."""
    from smashconfig.config.smash_config import SmashConfig
    from smashconfig.plan.smash_plan import SmashPlan

    plan = SmashPlan.from_json((directory / PLAN).read_text(encoding="utf-8"))
    config = SmashConfig.from_yaml(directory / CONFIG)
    if config.to_dict() != plan.config:
        raise SavedModelError(f"{directory}: {CONFIG} and {PLAN} describe different configs.")
    return plan


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
    if smashed:
        raise SavedModelError(
            f"{type(model).__name__} is already smashed at {', '.join(smashed[:5])}; load_smashed needs the "
            "unsmashed model (for example built from its config on the meta device)."
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


# ----- tensors -----------------------------------------------------------------------------------------


def state_tensors(model: Any) -> Dict[str, "torch.Tensor"]:
    """The state dict of a module, or of every component of a pipeline (keys prefixed by component)."""
    from smashconfig.target_modules.tree import components

    out: Dict[str, "torch.Tensor"] = {}
    for name, root in components(model).items():
        prefix = f"{name}." if name else ""
        out.update((prefix + key, value) for key, value in root.state_dict().items())
    return out


def non_persistent_buffers(model: Any) -> Dict[str, "torch.Tensor"]:
    """Buffers left out of the state dict (rotary ``inv_freq`` and the like), by full path."""
    from smashconfig.target_modules.tree import components

    out: Dict[str, "torch.Tensor"] = {}
    for name, root in components(model).items():
        for path, module in root.named_modules():
            full = ".".join(part for part in (name, path) if part)
            for buffer in module._non_persistent_buffers_set:
                tensor = module._buffers.get(buffer)
                if tensor is not None:
                    out[f"{full}.{buffer}" if full else buffer] = tensor
    return out


def _deduplicated(tensors: Dict[str, "torch.Tensor"]) -> Tuple[Dict[str, "torch.Tensor"], Dict[str, str]]:
    """Tensors with every exact duplicate (tied weights) replaced by an alias to its first name."""
    first: Dict[Tuple[Any, ...], str] = {}
    kept: Dict[str, "torch.Tensor"] = {}
    aliases: Dict[str, str] = {}
    for name, tensor in tensors.items():
        key = (tensor.data_ptr(), tensor.dtype, tuple(tensor.shape), tuple(tensor.stride()), tensor.device)
        if tensor.data_ptr() and key in first:
            aliases[name] = first[key]
        else:
            first.setdefault(key, name)
            kept[name] = tensor
    shared = _shared_storage(kept)
    for name in shared:
        kept[name] = kept[name].clone()
    return kept, aliases


def _shared_storage(tensors: Dict[str, "torch.Tensor"]) -> List[str]:
    """Names of tensors that share storage with an earlier one without being identical (views)."""
    seen = set()
    shared = []
    for name, tensor in tensors.items():
        pointer = tensor.untyped_storage().data_ptr() if tensor.data_ptr() else 0
        if pointer and pointer in seen:
            shared.append(name)
        seen.add(pointer)
    return shared


def _assign(model: Any, tensors: Dict[str, Any], buffers: Dict[str, Any], aliases: Dict[str, str]) -> None:
    """Assign saved tensors to the rebuilt model, checking nothing is missing or left over."""
    from smashconfig.target_modules.tree import components, get_module

    for name, root in components(model).items():
        prefix = f"{name}." if name else ""
        own = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        trainable = {key: parameter.requires_grad for key, parameter in root.named_parameters()}
        root.load_state_dict(own, strict=False, assign=True)
        for key, parameter in root.named_parameters():
            if key in trainable and parameter.requires_grad != trainable[key]:
                parameter.requires_grad_(trainable[key])
    expected = set(state_tensors(model))
    if expected != set(tensors):
        raise SavedModelError(
            f"the saved tensors do not match the rebuilt model: missing {sorted(expected - set(tensors))[:5]}, "
            f"unexpected {sorted(set(tensors) - expected)[:5]}"
        )
    for name, tensor in buffers.items():
        path, _, buffer = name.rpartition(".")
        module = get_module(model, path) if path else model
        module._buffers[buffer] = tensor
    for alias, canonical in aliases.items():
        _tie(model, alias, canonical)
    left = [name for name, tensor in state_tensors(model).items() if tensor.is_meta]
    left += [name for name, tensor in non_persistent_buffers(model).items() if tensor.is_meta]
    if left:
        raise SavedModelError(f"tensors still on the meta device after loading: {left[:5]}")


def _tie(model: Any, alias: str, canonical: str) -> None:
    """Make the parameter at ``alias`` the very same object as the one at ``canonical`` again."""
    from smashconfig.target_modules.tree import get_module

    alias_path, _, alias_name = alias.rpartition(".")
    canonical_path, _, canonical_name = canonical.rpartition(".")
    alias_module = get_module(model, alias_path) if alias_path else model
    canonical_module = get_module(model, canonical_path) if canonical_path else model
    tensor = canonical_module._parameters.get(canonical_name)
    if tensor is not None and alias_name in alias_module._parameters:
        alias_module._parameters[alias_name] = tensor


def _digest(data: Dict[str, Any]) -> str:
    """SHA-256 of ``data`` written as canonical JSON."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
