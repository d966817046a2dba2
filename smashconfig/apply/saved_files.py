"""Reading a saved smashed-model directory: the manifest, the config and the plan, each checked.

Nothing read here is trusted: the manifest's fields and types, the checksums of the small
files, the config against the configuration space, and every step of the plan against the
config (algorithm, hyperparameters, patterns) — all before any model is touched.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List

from smashconfig.apply.save_target import short_path
from smashconfig.errors import SavedModelError, SavedModelFileError, SmashConfigError

if TYPE_CHECKING:
    from smashconfig.plan.smash_plan import PlanStep, SmashPlan

WEIGHTS = "model.safetensors"
CONFIG = "config.yaml"
PLAN = "plan.json"
MANIFEST = "smashconfig.json"
FILES = (WEIGHTS, PLAN, CONFIG, MANIFEST)
"""Every file a save writes; the manifest last (it is what marks a directory as a complete save)."""
FORMAT = "smashconfig-smashed-model"
MAX_TEXT = 64 * 2**20
"""The largest manifest, plan or config a load reads."""

MANIFEST_FIELDS = {"files": dict, "aliases": dict, "non_persistent_buffers": list, "state": dict}


def read_manifest(directory: Path) -> Dict[str, Any]:
    """The manifest, after checking the directory is complete and the manifest and its fields are intact."""
    try:
        if not directory.is_dir():
            raise SavedModelFileError(f"{directory} is not a directory holding a smashed model.", key="directory")
        missing = [name for name in (MANIFEST, WEIGHTS, PLAN, CONFIG) if not (directory / name).is_file()]
    except OSError as error:
        if isinstance(error, SavedModelError):
            raise
        raise SavedModelFileError(f"cannot read {short_path(directory)}: {error.strerror or error}.") from None
    if missing:
        raise SavedModelFileError(
            f"{directory} is incomplete: missing {', '.join(missing)} (save_smashed writes all four).", key=missing[0]
        )
    text = read_text(directory / MANIFEST)
    where = directory / MANIFEST
    try:
        manifest = json.loads(text)
    except (ValueError, RecursionError):
        raise SavedModelError(f"{where} is not a smashconfig manifest: it is not JSON.", key=MANIFEST) from None
    if not isinstance(manifest, dict):
        raise SavedModelError(
            f"{where} is not a smashconfig manifest: it holds a JSON {type(manifest).__name__}, not an object.",
            key=MANIFEST,
        )
    if manifest.get("format") != FORMAT:
        raise SavedModelError(f"{where} is not a smashconfig manifest: format is not {FORMAT!r}.", key="format")
    for field, kind in MANIFEST_FIELDS.items():
        if not isinstance(manifest.get(field), kind):
            raise SavedModelError(f"{where}: {field!r} must be a JSON {kind.__name__}.", key=field)
    if manifest.get("manifest_sha256") != digest_of({k: v for k, v in manifest.items() if k != "manifest_sha256"}):
        raise SavedModelError(
            f"{where} does not match its own checksum: it was changed after saving; save the model again.",
            key="manifest_sha256",
        )
    _check_names(manifest, where)
    for name in (PLAN, CONFIG):
        if manifest["files"].get(name) != hashlib.sha256(read_text(directory / name).encode("utf-8")).hexdigest():
            raise changed_after_saving(directory / name)
    if not isinstance(manifest["files"].get(WEIGHTS), str):
        raise SavedModelError(f"{where}: no checksum for {WEIGHTS}.", key=WEIGHTS)
    return manifest


def _check_names(manifest: Dict[str, Any], where: Path) -> None:
    aliases, buffers = manifest["aliases"], manifest["non_persistent_buffers"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()):
        raise SavedModelError(f"{where}: 'aliases' must map tensor names to tensor names.", key="aliases")
    if not all(isinstance(name, str) for name in buffers):
        raise SavedModelError(f"{where}: 'non_persistent_buffers' must list tensor names.", key="non_persistent_buffers")
    if not all(isinstance(v, dict) for v in manifest["state"].values()):
        raise SavedModelError(f"{where}: 'state' must map algorithms to objects.", key="state")


def changed_after_saving(path: Path) -> SavedModelError:
    return SavedModelError(
        f"{path} does not match the checksum save_smashed recorded: the directory was changed after saving "
        "(or is damaged); save the model again.",
        key=path.name,
    )


def read_text(path: Path) -> str:
    """A small UTF-8 file, read with a bound; any failure is a :class:`SavedModelFileError` naming it."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TEXT + 1)
    except OSError as error:
        raise SavedModelFileError(f"cannot read {short_path(path)}: {error.strerror or error}.", key=path.name) from None
    if len(data) > MAX_TEXT:
        raise SavedModelError(f"{path} is larger than {MAX_TEXT >> 20} MiB; it is not a file save_smashed wrote.", key=path.name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SavedModelError(f"{path} is not UTF-8 text.", key=path.name) from None


def read_plan(directory: Path) -> "SmashPlan":
    """The saved plan, checked value by value against the saved config and the configuration space."""
    from smashconfig.config.files import locate, parse_yaml
    from smashconfig.config.smash_config import SmashConfig
    from smashconfig.plan.smash_plan import SmashPlan

    try:
        plan = SmashPlan.from_dict(json.loads(read_text(directory / PLAN)))
    except (ValueError, RecursionError, AttributeError) as error:
        reason = str(error) if isinstance(error, SavedModelError) else "not a smashconfig plan (malformed JSON)"
        raise SavedModelError(f"{directory / PLAN}: {reason}", key=PLAN) from None
    lines = None
    try:
        data, lines = parse_yaml(read_text(directory / CONFIG), str(directory / CONFIG))
        config = SmashConfig.from_dict(data)
    except SmashConfigError as error:
        where = locate(str(directory / CONFIG), lines, error.location) if lines is not None else str(directory / CONFIG)
        raise SavedModelError(f"{where}: {error.message}", key=error.key or CONFIG) from None
    if config.to_dict() != plan.config:
        raise SavedModelError(f"{directory}: {CONFIG} and the config in {PLAN} differ.", key="config")
    check_steps(plan, config, directory / PLAN)
    return plan


def check_steps(plan: "SmashPlan", config: Any, where: Path) -> None:
    """Each step is the config's algorithm, in order, with the config's values and well-formed fields."""
    from smashconfig.target_modules.normalize import normalize_target_modules

    names = [step.algorithm for step in plan.steps]
    if names != config.active_algorithms:
        raise SavedModelError(
            f"{where}: the steps are {names!r}; the config applies {config.active_algorithms!r}.", key="steps"
        )
    for step in plan.steps:
        _check_fields(step, where)
        wanted = config.params(step.algorithm)
        target_modules = normalize_target_modules(wanted.pop("target_modules"))
        wanted.pop("overrides", None)  # per-module values: checked with the plan's groups
        for key in sorted(set(wanted) | set(step.params)):
            if step.params.get(key, KeyError) != wanted.get(key, KeyError):
                shown = str(step.params.get(key, "missing"))[:40]
                raise SavedModelError(
                    f"{where}: step {step.algorithm!r} has {step.algorithm}_{key} = {shown}; the config gives "
                    f"{str(wanted.get(key, 'no such hyperparameter'))[:40]}.",
                    key=f"{step.algorithm}_{key}",
                )
        if (target_modules is None) != step.inferred or (target_modules is not None and target_modules != step.target_modules):
            raise SavedModelError(
                f"{where}: step {step.algorithm!r} has {step.algorithm}_target_modules {str(step.target_modules)[:80]}; "
                "the config gives "
                f"{str(target_modules)[:80]}.",
                key=f"{step.algorithm}_target_modules",
            )


def _check_fields(step: "PlanStep", where: Path) -> None:
    from smashconfig.contract.registry import default_registry

    def strings(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)

    checks = {
        "params": isinstance(step.params, dict),
        "target_modules": isinstance(step.target_modules, dict),
        "inferred": isinstance(step.inferred, bool),
        "targeted": strings(step.targeted),
        "acted": strings(step.acted),
        "skipped": isinstance(step.skipped, dict) and all(isinstance(v, str) for v in step.skipped.values()),
        "group": step.group == default_registry().get(step.algorithm).group,
        "needs_calibration": isinstance(step.needs_calibration, bool),
    }
    wrong = [field for field, ok in checks.items() if not ok]
    if wrong:
        raise SavedModelError(f"{where}: step {step.algorithm!r} has a malformed {wrong[0]!r}.", key=wrong[0])
    if not set(step.acted) <= set(step.targeted):
        raise SavedModelError(f"{where}: step {step.algorithm!r} acts on paths it does not target.", key="acted")


def digest_of(data: Dict[str, Any]) -> str:
    """SHA-256 of ``data`` written as canonical JSON."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()


__all__: List[str] = ["read_manifest", "read_plan", "read_text", "digest_of", "changed_after_saving"]
