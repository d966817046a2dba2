"""One trial: smash the user's model, measure it, and put it back exactly as it was."""

from __future__ import annotations

import gc
import logging
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, Iterator

from smashconfig.apply.smash import smash
from smashconfig.apply.snapshot import ModelSnapshot
from smashconfig.tuning.errors import ModelNotRestoredError
from smashconfig.tuning.metrics import Reference, measure

if TYPE_CHECKING:
    from smashconfig.config.smash_config import SmashConfig


def evaluate(model: Any, config: "SmashConfig", reference: Reference, *, latency: bool = False) -> Dict[str, float]:
    """The metrics of ``model`` smashed with ``config``; afterwards the model is as it was.

    The snapshot holds references, not copies: ``smash`` replaces modules and parameters rather
    than writing into them, so restoring costs no memory beyond this trial's new modules, which
    are freed before the next trial.
    """
    if not config.active_algorithms:  # "no algorithm" is a point of the search too: the model as it is
        return measure(model, reference, latency=latency)
    attributes = getattr(model, "__dict__", {})
    had_plan = "smash_plan" in attributes
    snapshot = ModelSnapshot(model)
    try:
        with _quiet_smash():
            smash(model, config, calibration_data=reference.batches)
        return measure(model, reference, latency=latency)
    finally:
        written = snapshot.restore()
        if not had_plan:
            attributes.pop("smash_plan", None)
        gc.collect()
        if written:
            raise ModelNotRestoredError(
                f"a trial wrote into these tensors of the model, which cannot be restored: {written}; "
                "the search stops so that no further trial measures a changed model."
            )


@contextmanager
def _quiet_smash() -> Iterator[None]:
    """``smash``'s summary line and its warnings (the same for many trials) go to the debug log:
    the search reports each trial itself."""
    logger = logging.getLogger("smashconfig")
    before = logger.level
    if logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        logger.setLevel(before)
    for warning in caught:
        logger.debug("%s", warning.message)
