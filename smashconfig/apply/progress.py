"""Progress over the modules a step changes, and which module it is on when something fails."""

from __future__ import annotations

import sys
from typing import Iterator, List, Optional, Sequence, overload


class TrackedPaths(Sequence[str]):
    """The paths a step acts on. Iterating shows a progress bar on a terminal (silent otherwise)
    and records the path being worked on, so a failure can name its module."""

    def __init__(self, paths: Sequence[str], description: str) -> None:
        self._paths: List[str] = list(paths)
        self.description = description
        self.current: Optional[str] = None

    def __len__(self) -> int:
        return len(self._paths)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> List[str]: ...

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        return self._paths[i]

    def working_on(self, path: Optional[str]) -> None:
        """Say which path the step is working on, for a step that hands all paths to a backend at once."""
        self.current = path

    def __iter__(self) -> Iterator[str]:
        bar = _bar(len(self._paths), self.description)
        try:
            for path in self._paths:
                self.current = path
                yield path
                if bar is not None:
                    bar.update(1)
            self.current = None
        finally:
            if bar is not None:
                bar.close()


def _bar(total: int, description: str):  # type: ignore[no-untyped-def]
    """A tqdm bar on stderr when it is a terminal; ``None`` otherwise."""
    if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="module", leave=False)
