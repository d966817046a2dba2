"""The tensors of a (smashed) model as save/load see them: by full name, ties as aliases.

A pipeline's tensors are prefixed by their component (``transformer.blocks.0.ff.weight``).
Non-persistent buffers (rotary ``inv_freq`` and the like) are saved too, under their full path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Tuple

from smashconfig.errors import SavedModelError

if TYPE_CHECKING:
    import torch

Layout = Dict[str, Tuple[Tuple[int, ...], "torch.dtype"]]
"""Full tensor name → (shape, dtype)."""


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


def deduplicated(tensors: Dict[str, "torch.Tensor"]) -> Tuple[Dict[str, "torch.Tensor"], Dict[str, str]]:
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
    for name in _shared_storage(kept):
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


def expected_layout(model: Any, changes: Mapping[str, Any], aliases: Mapping[str, str], buffers: List[str]) -> Layout:
    """What the saved file must hold for the rebuilt ``model``: its state (aliases left out), its
    non-persistent ``buffers``, with the algorithms' ``changes`` (see ``Algorithm.saved_layout``)."""
    layout: Layout = {name: (tuple(t.shape), t.dtype) for name, t in state_tensors(model).items()}
    for alias, canonical in aliases.items():
        if alias not in layout or layout[alias] != layout.get(canonical):
            raise SavedModelError(
                f"the saved alias {alias!r} -> {canonical!r} does not name two tensors of one shape and dtype "
                "in the rebuilt model.",
                key=alias,
            )
    layout = {name: value for name, value in layout.items() if name not in aliases}
    present = non_persistent_buffers(model)
    layout.update((name, (tuple(present[name].shape), present[name].dtype)) for name in buffers if name in present)
    for name, value in changes.items():
        if value is None:
            layout.pop(name, None)
        else:
            layout[name] = value
    return layout


def check_layout(found: Layout, expected: Layout, source: str) -> None:
    """Every saved tensor has the name, shape and dtype the rebuilt model needs, and none is missing."""
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    if missing or unexpected:
        raise SavedModelError(
            f"{source} does not hold the tensors the rebuilt model needs: missing {_names(missing)}, "
            f"unexpected {_names(unexpected)}."
        )
    for name, (shape, dtype) in expected.items():
        if found[name] != (shape, dtype):
            saved_shape, saved_dtype = found[name]
            raise SavedModelError(
                f"{source}: tensor {name!r} is {_kind(saved_shape, saved_dtype)}; the rebuilt model needs "
                f"{_kind(shape, dtype)}."
            )


def assign(model: Any, tensors: Dict[str, Any], buffers: Dict[str, Any], aliases: Dict[str, str]) -> None:
    """Assign the loaded tensors to the rebuilt model (its tensors become these very objects)."""
    from smashconfig.target_modules.tree import components, get_module

    tensors = dict(tensors)
    for alias, canonical in aliases.items():
        tensors[alias] = tensors[canonical]
    for name, root in components(model).items():
        prefix = f"{name}." if name else ""
        own = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        trainable = {key: parameter.requires_grad for key, parameter in root.named_parameters()}
        result = root.load_state_dict(own, strict=False, assign=True)
        if result.missing_keys or result.unexpected_keys:
            raise SavedModelError(
                f"the saved tensors do not fit the rebuilt model: missing {_names(result.missing_keys)}, "
                f"unexpected {_names(result.unexpected_keys)}"
            )
        for key, parameter in root.named_parameters():
            if key in trainable and parameter.requires_grad != trainable[key]:
                parameter.requires_grad_(trainable[key])
    for name, tensor in buffers.items():
        path, _, buffer = name.rpartition(".")
        module = get_module(model, path) if path else model
        module._buffers[buffer] = tensor
    for alias, canonical in aliases.items():
        _tie(model, alias, canonical)
    left = [name for name, tensor in state_tensors(model).items() if tensor.is_meta]
    left += [name for name, tensor in non_persistent_buffers(model).items() if tensor.is_meta]
    if left:
        raise SavedModelError(f"tensors still on the meta device after loading: {_names(left)}")


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


def _kind(shape: Tuple[int, ...], dtype: Any) -> str:
    return f"{str(dtype).replace('torch.', '')} of shape {list(shape)}"


def _names(names: List[str]) -> str:
    shown = ", ".join(repr(n) for n in sorted(names)[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return f"[{shown}]{more}" if names else "none"
