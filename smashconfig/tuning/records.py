"""One trial of a study, as the search stored it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from smashconfig.config.smash_config import SmashConfig


@dataclass
class TrialRecord:
    """One trial as stored in the study."""

    number: int
    state: str
    metrics: Dict[str, float] = field(default_factory=dict)
    config: Dict[str, Any] = field(default_factory=dict)
    fail_reason: Optional[str] = None
    same_as: Optional[int] = None

    @property
    def smash_config(self) -> SmashConfig:
        return SmashConfig.from_dict(self.config)
