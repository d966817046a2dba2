"""Quantized tensor subclasses in a module's state dict as plain tensors, and back.

torchao keeps a quantized weight as a tensor subclass (``Int8Tensor``, ``Float8Tensor``, ...)
that safetensors cannot store. Two hooks on the model that was quantized (each component of a
pipeline), and on each quantized fused-experts module, make its state dict hold the subclass's
plain component tensors instead (``weight.qdata``, ``weight.scale``, ... as
``__tensor_flatten__`` names them), and rebuild the subclass on load with
``__tensor_unflatten__``. Hooks on the model rather than on every quantized layer cost one
registration instead of thousands. The non-tensor attributes (block size, dtype, activation
quantization settings) come from the module's current weight, the template that
``rebuild`` quantizes on the meta device from the same config, so nothing is pickled and
every loaded component is checked against the template's name, shape and dtype.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Tuple

if TYPE_CHECKING:
    import torch
    from torch import nn


def is_tensor_subclass(tensor: Any) -> bool:
    """Whether ``tensor`` is a wrapper tensor subclass that flattens into plain tensors."""
    from torch.utils._python_dispatch import is_traceable_wrapper_subclass

    return is_traceable_wrapper_subclass(tensor)


def install_state_hooks(module: "nn.Module") -> None:
    """Make ``module``'s state dict store its own subclass parameters as plain components (once)."""
    if any(hook is flatten_subclasses for hook in module._state_dict_hooks.values()):
        return
    module.register_state_dict_post_hook(flatten_subclasses)
    module.register_load_state_dict_pre_hook(unflatten_subclasses)


def install_model_state_hooks(root: "nn.Module") -> None:
    """Make ``root``'s state dict store every subclass parameter below it as plain components (once)."""
    if any(hook is flatten_below for hook in root._state_dict_hooks.values()):
        return
    root.register_state_dict_post_hook(flatten_below)
    root.register_load_state_dict_pre_hook(unflatten_below)


def _holding_subclasses(root: "nn.Module", prefix: str) -> Iterator[Tuple["nn.Module", str]]:
    """Each module below ``root`` holding a subclass parameter, with its state-dict prefix."""
    for path, module in root.named_modules():
        if any(p is not None and is_tensor_subclass(p) for p in module._parameters.values()):
            yield module, f"{prefix}{path}." if path else prefix


def flatten_below(root: "nn.Module", state_dict: Dict[str, Any], prefix: str, local_metadata: Any) -> None:
    """State-dict post-hook of a model: :func:`flatten_subclasses` for every module below it."""
    for module, module_prefix in _holding_subclasses(root, prefix):
        flatten_subclasses(module, state_dict, module_prefix, local_metadata)


def unflatten_below(root: "nn.Module", state_dict: Dict[str, Any], prefix: str, *args: Any) -> None:
    """Load-state-dict pre-hook of a model: :func:`unflatten_subclasses` for every module below it."""
    for module, module_prefix in list(_holding_subclasses(root, prefix)):
        unflatten_subclasses(module, state_dict, module_prefix, *args)


def components(key: str, tensor: "torch.Tensor") -> Iterator[Tuple[str, "torch.Tensor"]]:
    """``(key.name, plain tensor)`` for every component of ``tensor``, nested subclasses included."""
    names, _ = tensor.__tensor_flatten__()
    for name in names:
        inner = getattr(tensor, name)
        if is_tensor_subclass(inner):
            yield from components(f"{key}.{name}", inner)
        else:
            yield f"{key}.{name}", inner


def flatten_subclasses(module: "nn.Module", state_dict: Dict[str, Any], prefix: str, local_metadata: Any) -> None:
    """State-dict post-hook: each subclass parameter becomes its components."""
    for name in module._parameters:
        key = prefix + name
        value = state_dict.get(key)
        if value is not None and is_tensor_subclass(value):
            del state_dict[key]
            state_dict.update(components(key, value))


def unflatten_subclasses(
    module: "nn.Module",
    state_dict: Dict[str, Any],
    prefix: str,
    local_metadata: Any,
    strict: bool,
    missing_keys: List[str],
    unexpected_keys: List[str],
    error_msgs: List[str],
) -> None:
    """Load-state-dict pre-hook: the components of each subclass parameter become the subclass again."""
    for name, template in module._parameters.items():
        key = prefix + name
        if template is None or not is_tensor_subclass(template) or key in state_dict:
            continue
        if not any(part_key in state_dict for part_key, _ in components(key, template)):
            continue  # none of it given: left to load_state_dict's own missing-key handling
        try:
            state_dict[key] = rebuilt(key, template, state_dict)
        except ValueError as error:
            error_msgs.append(str(error))


def rebuilt(key: str, template: "torch.Tensor", state_dict: Dict[str, Any]) -> "torch.Tensor":
    """The subclass ``template`` describes, made of the components of ``key`` taken out of ``state_dict``."""
    names, attributes = template.__tensor_flatten__()
    inner: Dict[str, Any] = {}
    for name in names:
        part, part_key = getattr(template, name), f"{key}.{name}"
        if is_tensor_subclass(part):
            inner[name] = rebuilt(part_key, part, state_dict)
            continue
        value = state_dict.pop(part_key, None)
        if value is None:
            raise ValueError(f"{part_key} is missing: {type(template).__name__} {key} is made of {', '.join(names)}")
        if value.shape != part.shape or value.dtype != part.dtype:
            raise ValueError(
                f"{part_key} is {value.dtype} {tuple(value.shape)}; the rebuilt model expects "
                f"{part.dtype} {tuple(part.shape)}"
            )
        inner[name] = value
    return type(template).__tensor_unflatten__(inner, attributes, template.shape, template.stride())
