"""Measuring a smashed model against the unsmashed one on the same batches.

``size`` is the MiB of the weights as stored (quantized tensors by their real storage); ``cosine``
the mean cosine similarity of each sample's output (sentence embeddings for encoders, logits
otherwise); for causal LMs ``kl`` is the mean KL divergence of the next-token distributions
(unsmashed ‖ smashed) over the real tokens, and ``perplexity`` the smashed model's perplexity on
the batches; ``latency`` the median forward time per batch in milliseconds.
"""

from __future__ import annotations

import statistics
import time
from collections import abc
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterator, List

from smashconfig.apply.sizes import weight_bytes

if TYPE_CHECKING:
    import torch

LATENCY_PASSES = 5


def is_causal_lm(model: Any) -> bool:
    """Whether ``model`` predicts next tokens (a transformers ``...ForCausalLM`` / ``...LMHeadModel``)."""
    return type(model).__name__.endswith(("ForCausalLM", "LMHeadModel"))


@dataclass
class Reference:
    """The unsmashed model's outputs on the batches, computed once per search."""

    batches: List[Any]
    outputs: List["torch.Tensor"]
    causal: bool

    @classmethod
    def of(cls, model: Any, batches: List[Any], causal: bool) -> "Reference":
        with evaluating(model):
            outputs = [readout(forward(model, batch), batch, causal) for batch in batches]
        return cls(batches, outputs, causal)


def measure(model: Any, reference: Reference, *, latency: bool = False) -> Dict[str, float]:
    """Every metric of ``model`` (smashed or not) against ``reference``."""
    import torch

    metrics: Dict[str, float] = {"size": weight_bytes(model) / 2**20}
    cosines: List["torch.Tensor"] = []
    kl = nll = tokens = 0.0
    with evaluating(model):
        for batch, expected in zip(reference.batches, reference.outputs):
            got = readout(forward(model, batch), batch, reference.causal)
            cosines.append(torch.nn.functional.cosine_similarity(expected.flatten(1), got.flatten(1), dim=1))
            if reference.causal:
                mask = _mask(batch, got)
                kl += _kl(expected, got, mask)
                nll += _nll(got, batch, mask)
                tokens += float(mask[:, 1:].sum())
        if latency:
            metrics["latency"] = median_latency_ms(model, reference.batches)
    metrics["cosine"] = float(torch.cat(cosines).mean())
    if reference.causal:
        count = sum(float(_mask(b, o).sum()) for b, o in zip(reference.batches, reference.outputs))
        metrics["kl"] = kl / max(count, 1.0)
        metrics["perplexity"] = float(torch.exp(torch.tensor(nll / max(tokens, 1.0))))
    return metrics


def forward(model: Any, batch: Any) -> Any:
    import torch

    with torch.no_grad():
        return model(**batch) if isinstance(batch, abc.Mapping) else model(batch)


def readout(output: Any, batch: Any, causal: bool) -> "torch.Tensor":
    """The comparable output: logits for causal LMs, masked mean of the last hidden states for encoders."""
    import torch

    if isinstance(output, torch.Tensor):
        return output.float()
    hidden = None if causal else getattr(output, "last_hidden_state", None)
    if hidden is None:
        logits = getattr(output, "logits", None)
        return (logits if logits is not None else output[0]).float()
    mask = batch.get("attention_mask") if isinstance(batch, abc.Mapping) else None
    if mask is None:
        return hidden.float().mean(dim=1)
    weights = mask.unsqueeze(-1).to(torch.float32)
    return (hidden.float() * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def median_latency_ms(model: Any, batches: List[Any]) -> float:
    """The median over a few passes of the mean forward time per batch, in milliseconds."""
    forward(model, batches[0])  # warm-up
    times = []
    for _ in range(LATENCY_PASSES):
        started = time.perf_counter()
        for batch in batches:
            forward(model, batch)
        times.append((time.perf_counter() - started) / len(batches) * 1000.0)
    return statistics.median(times)


def _mask(batch: Any, logits: "torch.Tensor") -> "torch.Tensor":
    import torch

    mask = batch.get("attention_mask") if isinstance(batch, abc.Mapping) else None
    return torch.ones(logits.shape[:2]) if mask is None else mask.to(torch.float32)


def _kl(expected: "torch.Tensor", got: "torch.Tensor", mask: "torch.Tensor") -> float:
    import torch

    log_p = torch.log_softmax(expected, dim=-1)
    log_q = torch.log_softmax(got, dim=-1)
    per_token = (log_p.exp() * (log_p - log_q)).sum(dim=-1)
    return float((per_token * mask).sum())


def _nll(logits: "torch.Tensor", batch: Any, mask: "torch.Tensor") -> float:
    import torch

    ids = batch["input_ids"] if isinstance(batch, abc.Mapping) else batch
    losses = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
    )
    return float((losses * mask[:, 1:].reshape(-1)).sum())


@contextmanager
def evaluating(model: Any) -> Iterator[None]:
    """Every module in eval mode for the measurement, each back to its own mode afterwards."""
    from smashconfig.target_modules.tree import components

    modules = [m for root in components(model).values() for m in root.modules()]
    modes = [m.training for m in modules]
    for module in modules:
        module.training = False
    try:
        yield
    finally:
        for module, mode in zip(modules, modes):
            module.training = mode
