"""The /stats chart: new readers and digests sent per day, drawn as a PNG on the server.

matplotlib is used through its object API (``Figure`` + the Agg canvas), never through pyplot:
pyplot keeps global state (current figure, rcParams changes) that is not safe when charts are
drawn in worker threads, and it may pick a GUI backend. The Agg backend is still selected before
anything imports pyplot, so nothing ever tries to open a display. Fonts are matplotlib's bundled
DejaVu Sans: nothing is downloaded. Sizes are set on each element (not via rcParams) so that
concurrent drawings cannot affect each other.

matplotlib (with numpy) is imported on the first chart, not with this module: it adds about
47 MiB to the process, and only an admin's /stats ever draws (``python -m bench.memory``).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from storage.stats import Stats

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTH_PX, HEIGHT_PX, DPI = 1200, 800, 100
READERS_COLOUR, DIGESTS_COLOUR = "#2a7ab8", "#e07b22"
TITLE_SIZE, LABEL_SIZE = 22, 16


def stats_chart(stats: Stats) -> bytes:
    """Two stacked bar charts over ``stats.daily`` as a 1200×800 PNG (phone-readable sizes)."""
    import matplotlib

    matplotlib.use("Agg")  # before anything can import pyplot
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    days = [d.day for d in stats.daily]
    labels = [f"{d:%d %b}" for d in days]
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    # Fixed margins: an automatic layout engine measures every label first and doubles the cost.
    figure.subplots_adjust(left=0.1, right=0.98, top=0.87, bottom=0.07, hspace=0.3)
    top, bottom = figure.subplots(2, 1, sharex=True)
    _panel(top, [d.new_readers for d in stats.daily], "New readers per day", READERS_COLOUR)
    _panel(bottom, [d.digests_sent for d in stats.daily], "Digests sent per day", DIGESTS_COLOUR)
    step = max(1, len(labels) // 8)  # about eight date labels, the last one today's
    ticks = range(len(labels) - 1, -1, -step)
    bottom.set_xticks(list(ticks), [labels[i] for i in ticks])
    figure.suptitle(f"Last {len(days)} days (UTC)", fontsize=TITLE_SIZE, fontweight="bold")
    buffer = io.BytesIO()
    # No "Software" text chunk: the same numbers give the same bytes across matplotlib versions.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _panel(axes: Axes, values: list[int], title: str, colour: str) -> None:
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    axes.bar(range(len(values)), values, color=colour, width=0.8)
    axes.set_title(f"{title} · total {sum(values):,}", fontsize=TITLE_SIZE - 2, loc="left")
    axes.tick_params(labelsize=LABEL_SIZE)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    axes.set_ylim(bottom=0, top=max([1, *values]) * 1.15)  # an all-zero window still has an axis
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_xlim(-0.6, len(values) - 0.4)
