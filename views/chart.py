"""The /stats chart: new readers and digests sent per day, drawn as a PNG on the server.

matplotlib is used through its object API (``Figure`` + the Agg canvas), never through pyplot:
pyplot keeps global state (current figure, rcParams changes) that is not safe when charts are
drawn in worker threads, and it may pick a GUI backend. The Agg backend is still selected before
anything imports pyplot, so nothing ever tries to open a display. Fonts are matplotlib's bundled
DejaVu Sans: nothing is downloaded. Sizes are set on each element (not via rcParams) so that
concurrent drawings cannot affect each other.

matplotlib (with numpy) is imported on the first chart, not with this module: it adds about
47 MiB to the process, and only an admin's /stats ever draws (``python -m bench.memory``).

Labels follow the reader's interface language (titles through gettext, dates and numbers through
Babel). DejaVu Sans draws Latin script only, and matplotlib does not shape Arabic or Devanagari:
for those languages and Chinese the picture carries numbers only (numeric dates, counts) and the
caption, which Telegram renders in any script, names the two panels by colour (``legend_lines``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

from babel.dates import format_skeleton

from storage.stats import Stats
from views.i18n import babel_locale, gettext_for, ngettext_for, number_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTH_PX, HEIGHT_PX, DPI = 1200, 800, 100
READERS_COLOUR, DIGESTS_COLOUR = "#2a7ab8", "#e07b22"
TITLE_SIZE, LABEL_SIZE = 22, 16
# Interface languages whose words the bundled font draws correctly (Latin script).
WORDED_LANGUAGES = frozenset({"en", "de", "fr"})


def worded(ui_language: str) -> bool:
    """Whether the chart may carry words in this language (else numbers only)."""
    return ui_language in WORDED_LANGUAGES


def legend_lines(stats: Stats, ui_language: str) -> list[str]:
    """The panels named by colour with their totals, for the caption of a numbers-only chart."""
    _ = gettext_for(ui_language)
    readers = sum(d.new_readers for d in stats.daily)
    digests = sum(d.digests_sent for d in stats.daily)
    return [
        "🟦 " + _("New readers per day · total {n}").format(n=number_text(readers, ui_language)),
        "🟧 " + _("Digests sent per day · total {n}").format(n=number_text(digests, ui_language)),
    ]


def stats_chart(stats: Stats, ui_language: str = "en") -> bytes:
    """Two stacked bar charts over ``stats.daily`` as a 1200×800 PNG (phone-readable sizes)."""
    import matplotlib

    matplotlib.use("Agg")  # before anything can import pyplot
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    days = [d.day for d in stats.daily]
    _ = gettext_for(ui_language)
    ngettext = ngettext_for(ui_language)
    words = worded(ui_language)
    locale = babel_locale(ui_language)
    skeleton = "MMMd" if words else "Md"
    labels = [
        format_skeleton(skeleton, d, locale=locale).replace("\u200f", "").replace("\u200e", "")
        for d in days
    ]
    number: Callable[[float], str] = (
        (lambda v: number_text(v, ui_language)) if words else (lambda v: f"{v:,.0f}")
    )
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    # Fixed margins: an automatic layout engine measures every label first and doubles the cost.
    figure.subplots_adjust(left=0.1, right=0.98, top=0.87, bottom=0.07, hspace=0.3)
    top, bottom = figure.subplots(2, 1, sharex=True)
    readers_title = _("New readers per day · total {n}") if words else ""
    digests_title = _("Digests sent per day · total {n}") if words else ""
    _panel(top, [d.new_readers for d in stats.daily], readers_title, READERS_COLOUR, number)
    _panel(bottom, [d.digests_sent for d in stats.daily], digests_title, DIGESTS_COLOUR, number)
    step = max(1, len(labels) // 8)  # about eight date labels, the last one today's
    ticks = range(len(labels) - 1, -1, -step)
    bottom.set_xticks(list(ticks), [labels[i] for i in ticks])
    if words:
        title = ngettext("Last {n} day (UTC)", "Last {n} days (UTC)", len(days))
        title = title.format(n=number(len(days)))
    else:
        title = f"{labels[0]} – {labels[-1]} (UTC)" if labels else "UTC"
    figure.suptitle(title, fontsize=TITLE_SIZE, fontweight="bold")
    buffer = io.BytesIO()
    # No "Software" text chunk: the same numbers give the same bytes across matplotlib versions.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _panel(
    axes: Axes, values: list[int], title: str, colour: str, number: Callable[[float], str]
) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axes.bar(range(len(values)), values, color=colour, width=0.8)
    shown = title.format(n=number(sum(values))) if title else number(sum(values))
    axes.set_title(shown, fontsize=TITLE_SIZE - 2, loc="left")
    axes.tick_params(labelsize=LABEL_SIZE)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda x, _pos: number(x)))
    axes.set_ylim(bottom=0, top=max([1, *values]) * 1.15)  # an all-zero window still has an axis
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_xlim(-0.6, len(values) - 0.4)
