"""Progress over the modules a step changes, and which module it is on when something fails."""

from __future__ import annotations

import sys
from typing import Iterator, List, Optional, Sequence, Set, overload


class StepProgress:
    """The ``progress`` callback a step's algorithm gets: ``progress(path)`` says which module it is
    working on (``None``: between modules). Shows a bar on a terminal (silent otherwise) and keeps
    the current path so a failure can name its module."""

    def __init__(self, total: int, description: str) -> None:
        self.total = total
        self.description = description
        self.current: Optional[str] = None
        self._seen: Set[str] = set()
        self._bar = None
        self._terminal: Optional[bool] = None  # asked once, at the first module

    def __call__(self, path: Optional[str]) -> None:
        self.current = path
        if path is None or path in self._seen:
            return
        self._seen.add(path)
        if self._terminal is None:
            self._terminal = _on_terminal()
            if self._terminal:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=self.total, desc=self.description, unit="module", leave=False)
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class TrackedPaths(Sequence[str]):
    """The paths handed to a simple ``apply``: iterating them reports each one to ``progress``."""

    def __init__(self, paths: Sequence[str], progress: StepProgress) -> None:
        self._paths: List[str] = list(paths)
        self._progress = progress

    def __len__(self) -> int:
        return len(self._paths)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> List[str]: ...

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        return self._paths[i]

    def __iter__(self) -> Iterator[str]:
        for path in self._paths:
            self._progress(path)
            yield path
        self._progress(None)

    def __eq__(self, other: object) -> bool:
        return self._paths == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._paths)


def _on_terminal() -> bool:
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
