"""A PNG of every trial on the first two objectives, with the Pareto front highlighted."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Dict, List

if TYPE_CHECKING:
    from smashconfig.tuning.objectives import Objective
    from smashconfig.tuning.records import TrialRecord


def plot_front(
    trials: List["TrialRecord"],
    front: List["TrialRecord"],
    objectives: List["Objective"],
    baseline: Dict[str, float],
    title: str,
    path: Path,
) -> Path:
    """Draw with matplotlib's Agg canvas (no display, no global backend change) and save to ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x_obj, y_obj = objectives[0], objectives[1]
    done = [t for t in trials if t.state == "complete"]
    front_numbers = {p.number for p in front}
    figure = Figure(figsize=(6.4, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    others = [t for t in done if t.number not in front_numbers]
    axes.scatter([t.metrics[x_obj.name] for t in others], [t.metrics[y_obj.name] for t in others],
                 s=22, color="0.65", label=f"trials ({len(done)})")
    front = sorted(front, key=lambda p: p.metrics[x_obj.name])
    xs = [p.metrics[x_obj.name] for p in front]
    ys = [p.metrics[y_obj.name] for p in front]
    axes.plot(xs, ys, color="C3", linewidth=1, drawstyle="steps-post" if len(front) > 1 else "default")
    axes.scatter(xs, ys, s=40, color="C3", zorder=3, label=f"Pareto front ({len(front)})")
    for point, x, y in zip(front, xs, ys):
        axes.annotate(str(point.number), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if x_obj.name in baseline and y_obj.name in baseline:
        axes.scatter([baseline[x_obj.name]], [baseline[y_obj.name]], marker="*", s=90,
                     color="C0", zorder=3, label="unsmashed")
    axes.set_xlabel(f"{x_obj.label} ({'lower' if x_obj.direction == 'minimize' else 'higher'} is better)")
    axes.set_ylabel(f"{y_obj.name} ({'lower' if y_obj.direction == 'minimize' else 'higher'} is better)")
    axes.set_title(f"study {title}", fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    return path
