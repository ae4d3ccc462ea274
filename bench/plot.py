"""The README's picture of the figures: each measure as a bar beside its goal."""

from pathlib import Path

from bench.figures import Figures

GOOD, BAD, REFERENCE, GOAL = "#2e7d32", "#c62828", "#9e9e9e", "#1a1a1a"
Bar = tuple[str, float, float | None, bool]  # label, value, goal, higher is better


def plot(figures: Figures, path: Path) -> None:
    """Two panels: throughput ratios (higher is better), latencies in ms (lower is better)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the benchmark runs in terminals and CI
    import matplotlib.pyplot as plt

    fig, (ratios, latencies) = plt.subplots(
        2, 1, figsize=(9, 6.5), gridspec_kw={"height_ratios": [3, 4]}
    )
    _panel(ratios, _ratio_bars(figures), "ratio (higher is better)")
    _panel(latencies, _latency_bars(figures), "milliseconds (lower is better)")
    machine, settings = figures.machine, figures.settings
    fig.suptitle(
        f"wapipe vs the naive pipeline: {settings['messages']} messages, "
        f"{machine['cores']} cores, {machine['date']}, code {machine['code']}",
        fontsize=10,
    )
    fig.text(
        0.5, 0.005, "green: goal met, red: goal missed, grey: for reference; dashed: the goal",
        ha="center", fontsize=8,
    )  # fmt: skip
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ratio_bars(figures: Figures) -> list[Bar]:
    ratios = figures.ratios()
    bars: list[Bar] = [
        ("whole lifecycle, wapipe / naive", ratios["lifecycle"], 1.5, True),
        ("intake, wapipe / pgbench", ratios["intake_vs_pgbench"], 0.35, True),
        ("intake, naive / pgbench", ratios["naive_intake_vs_pgbench"], None, True),
    ]
    if "scaling" in ratios:
        # As the rate kept at 10x (10 / time ratio) so that, like its neighbours, more is better.
        bars.append(("10x messages, rate kept", 10 / ratios["scaling"], 10 / 10.5, True))
    return bars


def _latency_bars(figures: Figures) -> list[Bar]:
    bars: list[Bar] = []
    for name in ("wapipe", "naive"):
        p95 = figures.pipelines[name].lifecycle.webhook_latency.get("p95_ms")
        if p95 is not None:
            bars.append((f"webhook answer p95, {name}", p95, 50.0, False))
    at_80 = figures.pipelines["wapipe"].intake_at_80
    if at_80 is not None:
        bars.append(("intake p99 at 80% load, wapipe", at_80.p99_ms, 50.0, False))
    naive_intake = figures.pipelines["naive"].intake
    bars.append(("intake p99 flat out, naive", naive_intake.p99_ms, None, False))
    return bars


def _panel(axes: object, bars: list[Bar], xlabel: str) -> None:
    from matplotlib.axes import Axes

    assert isinstance(axes, Axes)
    rows = list(range(len(bars)))[::-1]  # first bar on top
    colors = [_color(value, goal, higher) for _, value, goal, higher in bars]
    axes.barh(rows, [bar[1] for bar in bars], color=colors, height=0.6)
    axes.set_yticks(rows, [bar[0] for bar in bars], fontsize=9)
    largest = max(max(bar[1], bar[2] or 0) for bar in bars)
    for row, (_, value, goal, _) in zip(rows, bars, strict=True):
        shown = f"{value:.2f}" if largest < 10 else f"{value:.0f}"
        axes.text(value + largest * 0.01, row, shown, va="center", fontsize=8)
        if goal is not None:
            axes.plot([goal, goal], [row - 0.4, row + 0.4], color=GOAL, linestyle="--")
            axes.text(goal, row + 0.42, f"goal {goal:.2g}", fontsize=7, ha="center")
    axes.set_xlim(0, largest * 1.15)
    axes.set_xlabel(xlabel, fontsize=9)


def _color(value: float, goal: float | None, higher_is_better: bool) -> str:
    if goal is None:
        return REFERENCE
    met = value >= goal if higher_is_better else value < goal
    return GOOD if met else BAD
