"""``cfg.resolve_target_modules(model)``: each active algorithm's targets on a model, through the one decision."""

from __future__ import annotations

from typing import Any, Dict, List


def resolve_target_modules(config: Any, model: Any, *, strict: bool = False) -> Dict[str, Dict[str, List[str]]]:
    """For each active algorithm of ``config``, the ``target_modules`` ``smash`` will use on ``model``."""
    from smashconfig.target_modules.decide import decide_targets
    from smashconfig.target_modules.messages import emit
    from smashconfig.target_modules.tree import index_modules

    index = index_modules(model)
    out: Dict[str, Dict[str, List[str]]] = {}
    messages: List[str] = []
    for name in config.active_algorithms:
        params = config.params(name)
        written, overrides = params.pop("target_modules"), params.pop("overrides")
        decision = decide_targets(
            model, written, config.registry.get(name), params,
            overrides=overrides, index=index, changed_by=config.registry.changed_by,
        )
        out[name] = decision.target_modules
        if decision.no_targets is not None:
            messages.append(decision.no_targets)
        messages += decision.warnings
    emit(messages, strict=strict, stacklevel=3)  # the warning points at the caller of cfg.resolve_target_modules
    return out

