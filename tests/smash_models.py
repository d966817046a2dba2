"""Builders and checks shared by the tests that change models (smash, rollback, save/load).

Import as ``from smash_models import ...``: tests/conftest.py puts this folder on ``sys.path``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import torch
from torch import nn

import models

# ----- inputs and meta builders ----------------------------------------------------------------------


def llama_ids(batch: int = 2, length: int = 8, vocab: int = 128, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, length), generator=generator)


def bert_inputs(batch: int = 2, length: int = 8, vocab: int = 100, seed: int = 0) -> Dict[str, torch.Tensor]:
    return {"input_ids": llama_ids(batch, length, vocab, seed), "attention_mask": torch.ones(batch, length, dtype=torch.long)}


def features(batch: int = 4, width: int = 8, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, width, generator=generator)


def meta_llama(tie_word_embeddings: bool = False, num_hidden_layers: int = 2) -> nn.Module:
    """A fresh, unsmashed tiny Llama (same config as ``models.tiny_llama``) whose weights live on the meta device."""
    from transformers import LlamaForCausalLM

    config = models.llama_config(tie_word_embeddings=tie_word_embeddings, num_hidden_layers=num_hidden_layers)
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    return model.eval()


def meta_sequential() -> nn.Sequential:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    return model.eval()


def meta_pipeline() -> models.Pipeline:
    with torch.device("meta"):
        return models.Pipeline(models.Transformer(), models.TextEncoder(), models.VAE())


def meta_like(model: nn.Module) -> nn.Module:
    """A fresh meta-device instance of a Hugging Face model, built from its config."""
    with torch.device("meta"):
        fresh = type(model)(model.config)
    return fresh.eval()


def llama_logits(model: nn.Module, ids: Optional[torch.Tensor] = None) -> torch.Tensor:
    with torch.no_grad():
        return model(llama_ids() if ids is None else ids).logits


def randomize_adapters(model: Any, seed: int = 1) -> None:
    """Give every LoRA matrix non-zero values, so that the adapters change the outputs."""
    generator = torch.Generator().manual_seed(seed)
    for _, root in roots(model).items():
        for name, parameter in root.named_parameters():
            if "lora_" in name:
                with torch.no_grad():
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)


# ----- walking a model or pipeline -------------------------------------------------------------------


def roots(model: Any) -> Dict[str, nn.Module]:
    if isinstance(model, nn.Module):
        return {"": model}
    return {k: v for k, v in vars(model).items() if isinstance(v, nn.Module)}


def modules_by_path(model: Any) -> Dict[str, nn.Module]:
    """Every module (roots included, a root at its component name or ``""``) by path."""
    out: Dict[str, nn.Module] = {}
    for prefix, root in roots(model).items():
        for name, module in root.named_modules(remove_duplicate=False):
            out[".".join(p for p in (prefix, name) if p)] = module
    return out


def state(model: Any) -> Dict[str, torch.Tensor]:
    """The state dict of a module, or of every component of a pipeline (keys prefixed)."""
    out: Dict[str, torch.Tensor] = {}
    for prefix, root in roots(model).items():
        for key, value in root.state_dict().items():
            out[f"{prefix}.{key}" if prefix else key] = value
    return out


def tensors(model: Any) -> Dict[str, torch.Tensor]:
    """Every parameter and buffer object by full name, duplicates (tied weights) included."""
    out: Dict[str, torch.Tensor] = {}
    for path, module in modules_by_path(model).items():
        for kind in ("_parameters", "_buffers"):
            for name, tensor in module.__dict__[kind].items():
                if tensor is not None:
                    out[f"{path}.{name}" if path else name] = tensor
    return out


def state_bytes(model: Any) -> int:
    seen = set()
    total = 0
    for tensor in state(model).values():
        key = (tensor.data_ptr(), tensor.nbytes)
        if key not in seen:
            seen.add(key)
            total += tensor.nbytes
    return total


def bytes_under(model: Any, path: str) -> int:
    prefix = path + "."
    return sum(t.nbytes for k, t in state(model).items() if k.startswith(prefix))


def own_tensors(module: nn.Module) -> Dict[str, torch.Tensor]:
    return {
        f"{kind}:{name}": tensor
        for kind in ("_parameters", "_buffers")
        for name, tensor in module.__dict__[kind].items()
        if tensor is not None
    }


# ----- capturing a model and checking it is exactly as captured --------------------------------------


@dataclass
class Capture:
    """Everything that ``smash`` must leave exactly as it was when it fails (or when it only plans)."""

    attributes: Dict[str, Any]
    modules: Dict[str, nn.Module]
    module_attributes: Dict[str, Tuple[str, ...]]
    children: Dict[str, Tuple[Tuple[str, int], ...]]
    hooks: Dict[str, Tuple[int, ...]]
    training: Dict[str, bool]
    tensor_objects: Dict[str, torch.Tensor]
    values: Dict[str, torch.Tensor]
    requires_grad: Dict[str, bool]
    state_values: Dict[str, torch.Tensor]


HOOK_KINDS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)


def capture(model: Any) -> Capture:
    modules = modules_by_path(model)
    objects = tensors(model)
    return Capture(
        attributes=dict(vars(model)),
        modules=dict(modules),
        module_attributes={p: tuple(sorted(vars(m))) for p, m in modules.items()},
        children={p: tuple((n, id(c)) for n, c in m._modules.items()) for p, m in modules.items()},
        hooks={p: tuple(len(getattr(m, kind, {}) or {}) for kind in HOOK_KINDS) for p, m in modules.items()},
        training={p: m.training for p, m in modules.items()},
        tensor_objects=dict(objects),
        values={k: _clone(t) for k, t in objects.items()},
        requires_grad={k: t.requires_grad for k, t in objects.items()},
        state_values={k: _clone(t) for k, t in state(model).items()},
    )


def _clone(tensor: torch.Tensor) -> Any:
    """A copy of the values; a tensor subclass (a quanto QTensor) as a dict of its inner tensors."""
    if tensor.is_meta:
        return tensor
    if type(tensor) not in (torch.Tensor, nn.Parameter) and hasattr(tensor, "__tensor_flatten__"):
        names, _ = tensor.__tensor_flatten__()
        return {name: _clone(getattr(tensor, name)) for name in names}
    return tensor.detach().clone()


def same_values(tensor: torch.Tensor, copied: Any) -> bool:
    if isinstance(copied, dict):
        names, _ = tensor.__tensor_flatten__()
        return list(names) == list(copied) and all(same_values(getattr(tensor, n), copied[n]) for n in names)
    return torch.equal(tensor.detach(), copied)


def assert_unchanged(model: Any, before: Capture) -> None:
    """``model`` is exactly as captured: same objects at the same paths, same values, flags, attributes."""
    assert set(vars(model)) == set(before.attributes), (
        f"attributes added {sorted(set(vars(model)) - set(before.attributes))}, "
        f"removed {sorted(set(before.attributes) - set(vars(model)))}"
    )
    for name, value in before.attributes.items():
        assert vars(model)[name] is value, f"attribute {name!r} is a different object"
    modules = modules_by_path(model)
    assert list(modules) == list(before.modules)
    for path, module in before.modules.items():
        assert modules[path] is module, f"{path!r} is a different module object"
        assert tuple(sorted(vars(module))) == before.module_attributes[path], f"{path!r} attributes differ"
        assert tuple((n, id(c)) for n, c in module._modules.items()) == before.children[path], path
        assert tuple(len(getattr(module, kind, {}) or {}) for kind in HOOK_KINDS) == before.hooks[path], path
        assert module.training == before.training[path], path
    now = tensors(model)
    assert list(now) == list(before.tensor_objects)
    for name, tensor in before.tensor_objects.items():
        assert now[name] is tensor, f"{name} is a different tensor object"
        assert type(now[name]) is type(tensor), name
        assert tensor.requires_grad == before.requires_grad[name], f"{name}: requires_grad changed"
        if not tensor.is_meta:
            assert same_values(tensor, before.values[name]), f"{name}: values changed"
    after_state = state(model)
    assert list(after_state) == list(before.state_values)
    for key, value in after_state.items():
        assert type(value) is type(before.state_values[key]), f"state {key}: {type(value).__name__}"
        if not value.is_meta:
            assert same_values(value, before.state_values[key]), f"state {key} changed"


def assert_untargeted_unchanged(model: Any, before: Capture, acted: Iterable[str], expect_some: bool = True) -> None:
    """Every module outside the acted paths is the same object with the same own parameters and buffers."""
    acted = list(acted)
    modules = modules_by_path(model)
    checked = 0
    for path, module in before.modules.items():
        if any(path == a or path.startswith(a + ".") for a in acted):
            continue
        assert modules.get(path) is module, f"untargeted {path!r} was replaced"
        for name, tensor in own_tensors(module).items():
            full = f"{path}.{name.split(':', 1)[1]}" if path else name.split(":", 1)[1]
            assert tensor is before.tensor_objects[full], f"{full} was replaced"
            assert type(tensor) is type(before.tensor_objects[full])
            if not tensor.is_meta:
                assert same_values(tensor, before.values[full]), f"{full} changed"
            checked += 1
    assert checked or not expect_some, "no untargeted tensor was compared"


# ----- counting calls to a backend function while keeping it real ------------------------------------


class Calls:
    """Wraps a backend function: counts calls and can raise on the n-th one (otherwise calls the real one)."""

    def __init__(self, real: Callable[..., Any], fail_on: Optional[int] = None, error: Optional[BaseException] = None):
        self.real = real
        self.fail_on = fail_on
        self.error = error if error is not None else RuntimeError("injected fault")
        self.count = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        if self.fail_on is not None and self.count == self.fail_on:
            raise self.error
        return self.real(*args, **kwargs)


def quantized_paths(model: Any) -> List[str]:
    from optimum.quanto.nn import QModuleMixin

    return [p for p, m in modules_by_path(model).items() if isinstance(m, QModuleMixin)]


def adapted_paths(model: Any) -> List[str]:
    from peft.tuners.lora import LoraLayer

    return [p for p, m in modules_by_path(model).items() if isinstance(m, LoraLayer)]
