"""Draw the peer benchmarks' plots from their results file (matplotlib, Agg backend).

``python benchmarks/_peers_plots.py [RESULTS_JSON [OUT_DIR]]`` redraws every plot from a
results file without measuring again (and the family's, from ``family-results.json`` beside
it); ``test_peers.py`` calls ``draw`` after each test, ``test_family.py`` ``draw_family``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

PLOTS = Path(__file__).parent / "plots"
RESULTS = PLOTS / "peers-results.json"
COLORS = {
    "sdk-kept": "#d62728",
    "sdk-per-call": "#ff7f0e",
    "naive": "#7f7f7f",
    "engine": "#1f77b4",
    "engine-tuned": "#2ca02c",
}
#: Issue 26: requests per job at most this share of the SDK's, at a p99 no worse.
GOAL_REQUESTS = 0.8
LABELS = {
    "sdk-kept": "SDK, 16 threads, kept session (5 s)",
    "sdk-per-call": "SDK, 16 threads, session per call (5 s)",
    "naive": "naive asyncio loop (5 s)",
    "engine": "engine, defaults",
    "engine-tuned": "engine, tuned for latency",
}


def draw(results: dict[str, Any], out: Path) -> list[Path]:
    """Write every plot the results allow; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if "mix" in results:
        written.append(_cpu_per_job_hour(results["mix"], out / "cpu-per-job-hour.png"))
        written.append(_trade_off(results["mix"], out / "latency-vs-requests.png"))
    if "bursts" in results:
        path = out / "latency-vs-requests-bursts.png"
        written.append(_trade_off(results["bursts"], path, "the bursty mix"))
    if "rate_limit" in results:
        written.append(_rate_limit(results["rate_limit"], out / "rate-limit.png"))
    return written


def _cpu_per_job_hour(mix: dict[str, Any], path: Path) -> Path:
    names = [n for n in LABELS if n in mix["contenders"]]
    rows = [mix["contenders"][n] for n in names]
    fig, (cpu_ax, req_ax) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    colors = [COLORS[n] for n in names]
    labels = [LABELS[n].replace(", ", ",\n", 1) for n in names]
    base = mix["contenders"]["engine"]
    for ax, key, unit, fmt in (
        (cpu_ax, "cpu_ms_per_job_hour", "client CPU per job-hour watched (ms)", "{:.0f} ms"),
        (req_ax, "requests_per_job", "requests per job", "{:.1f}"),
    ):
        values = [row[key] for row in rows]
        bars = ax.barh(labels, values, color=colors)
        ax.invert_yaxis()
        ax.set_xlabel(unit)
        ax.set_xlim(0, max(values) * 1.45)
        for bar, value in zip(bars, values, strict=True):
            ratio = value / base[key] if base[key] else float("nan")
            ax.annotate(
                f"{fmt.format(value)}  ({ratio:.2f}x engine)",
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        ax.grid(axis="x", alpha=0.3)
    req_ax.set_yticklabels([])
    fig.suptitle(
        f"Watching {mix['jobs']} jobs of the realistic mix (clock x{mix['speed']:g}): "
        "client CPU and requests",
        fontsize=11,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


FAMILIES = (
    ("naive", COLORS["naive"], "o-", "naive asyncio loop, fixed interval"),
    ("engine", COLORS["engine"], "o", "engine, interval / max_interval (growth x1.5 if not said)"),
    ("engine-fixed", COLORS["engine-tuned"], "^", "engine, fixed interval (growth 1, no jitter)"),
    ("engine-latency", COLORS["engine"], "s-", "engine, latency bound (the defaults' shape)"),
)


def _points(
    ax: Any, mix: dict[str, Any], inside: tuple[float, float] | None = None, key: str = "p99"
) -> None:
    """Plot the curve's settings and the SDK (``key``: p99 or p50 against requests); label
    only points with x in ``inside``."""
    for family, color, style, label in FAMILIES:
        points = sorted(
            (p["requests_per_job"], p[key], p["setting"])
            for p in mix["curve"]
            if p["family"] == family
        )
        if not points:
            continue
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        size = 9 if "^" in style else 7
        ax.plot(xs, ys, style, color=color, label=label, markersize=size, zorder=3)
        for x, y, setting in points:
            if inside is None or inside[0] <= x <= inside[1]:
                # The fixed loops' labels below their points, the engine's above: near the
                # SDK's 5 s the naive 5 s loop and the engine's fixed 5 s sit side by side.
                offset = (6, -12) if family == "naive" else (6, 4)
                ax.annotate(setting, (x, y), xytext=offset, textcoords="offset points", fontsize=8)
    for name, marker in (("sdk-kept", "s"), ("sdk-per-call", "D")):
        row = mix["contenders"].get(name)
        if row is not None:
            ax.plot(
                row["requests_per_job"],
                row[key],
                marker,
                color=COLORS[name],
                markersize=8,
                label=LABELS[name],
                zorder=4,
            )


def _trade_off(mix: dict[str, Any], path: Path, title: str = "the realistic mix") -> Path:
    fig, (ax, zoom, median) = plt.subplots(
        1, 3, figsize=(20, 7), layout="constrained", width_ratios=(3, 2, 2)
    )
    sdk = mix["contenders"]["sdk-kept"]
    near = (sdk["requests_per_job"] * 0.85, sdk["requests_per_job"] * 1.2)
    _points(ax, mix, inside=(0, near[0]))
    for point in mix["curve"]:  # outside the zoom: labelled on the full curve
        x = point["requests_per_job"]
        if x > near[1]:
            ax.annotate(
                point["setting"],
                (x, point["p99"]),
                xytext=(6, 4),
                textcoords="offset points",
                fontsize=8,
            )
    # Issue 26's goal: p99 no worse than the SDK's with 0.8x its requests or fewer.
    ax.fill_between(
        [1, sdk["requests_per_job"] * GOAL_REQUESTS],
        0,
        sdk["p99"],
        color=COLORS["engine-tuned"],
        alpha=0.12,
        label=f"goal: p99 <= the SDK's with <= {GOAL_REQUESTS:g}x its requests",
    )
    floor = mix.get("floor")
    if floor:
        ax.axvline(
            floor["floor_per_job"],
            color="black",
            linestyle=":",
            linewidth=1.2,
            label="fewest requests that see every host end within 5 s, not knowing when",
        )
    ax.axvspan(*near, color="black", alpha=0.06, label="zoomed in on the right")
    ax.set_xscale("log")
    ticks = [5, 10, 15, 20, 30, 40, 60, 80, 100, 150, 200, 300]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    xs = [p["requests_per_job"] for p in mix["curve"]]
    lowest = [*xs, sdk["requests_per_job"] * GOAL_REQUESTS] + (
        [floor["floor_per_job"]] if floor else []
    )
    ax.set_xlim(min(lowest) * 0.8, max(xs) * 1.3)
    ax.set_xlabel("requests per job (log scale)")
    ax.set_ylabel("p99 transition latency (s, simulator clock)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8.5)
    ax.set_title(
        f"p99 latency against requests: {mix['jobs']} jobs of {title},\n"
        f"intervals in simulator seconds (clock x{mix['speed']:g})",
        fontsize=10,
    )
    _points(zoom, mix)
    zoom.axhline(sdk["p99"], color=COLORS["sdk-kept"], linestyle="--", linewidth=1)
    zoom.set_xlim(*near)
    near_p99 = [p["p99"] for p in mix["curve"] if near[0] <= p["requests_per_job"] <= near[1]] + [
        sdk["p99"]
    ]
    zoom.set_ylim(min(near_p99) - 0.8, max(near_p99) + 0.8)
    zoom.set_xlabel("requests per job")
    zoom.set_ylabel("p99 transition latency (s, simulator clock)")
    zoom.grid(alpha=0.3)
    zoom.set_title("Near the SDK's 5 s loop (dashed: the SDK's p99)", fontsize=10)
    _points(median, mix, key="p50")
    median.axhline(sdk["p50"] / 2, color=COLORS["engine-tuned"], linestyle="--", linewidth=1)
    median.set_xscale("log")
    median.xaxis.set_major_locator(FixedLocator(ticks))
    median.xaxis.set_major_formatter(ScalarFormatter())
    median.xaxis.set_minor_locator(NullLocator())
    median.set_xlim(min(xs) * 0.8, max(xs) * 1.3)
    median.set_ylim(bottom=0)
    median.set_xlabel("requests per job (log scale)")
    median.set_ylabel("p50 transition latency (s, simulator clock)")
    median.grid(alpha=0.3)
    median.set_title("p50 against requests (dashed: half the SDK's p50)", fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _rate_limit(rate: dict[str, Any], path: Path) -> Path:
    fig, (ax, gov) = plt.subplots(
        2, 1, figsize=(9, 8), layout="constrained", sharex=True, height_ratios=(3, 2)
    )
    for name in LABELS:
        row = rate["contenders"].get(name)
        if row is None:
            continue
        times, goodput = (
            zip(*row["goodput_series"], strict=True) if row["goodput_series"] else ((), ())
        )
        ax.plot(times, goodput, color=COLORS[name], label=LABELS[name], linewidth=1.6)
    ax.axhline(rate["limit"], color="black", linestyle="--", linewidth=1, label="server limit")
    ax.set_ylabel("answered requests per second\n(1 s bins)")
    peak = max((v for r in rate["contenders"].values() for _, v in r["goodput_series"]), default=0)
    ax.set_ylim(0, max(rate["limit"] * 1.4, peak * 1.1))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", ncol=2, fontsize=8)
    ax.set_title(
        f"Goodput under a server limit of {rate['limit']:g} req/s, "
        f"{rate['jobs']} jobs of the realistic mix (real time)",
        fontsize=10,
    )
    top = rate["limit"] * 1.4
    for name in ("engine", "engine-tuned"):
        row = rate["contenders"].get(name)
        if row is None or "offered_series" not in row:
            continue
        times, sent = (
            zip(*row["offered_series"], strict=True) if row["offered_series"] else ((), ())
        )
        gov.plot(times, sent, color=COLORS[name], linewidth=1.6, label=f"{LABELS[name]}: sent/s")
        top = max(top, max(sent, default=0) * 1.1)
        if row.get("allowed_series"):
            times, allowed = zip(*row["allowed_series"], strict=True)
            gov.step(
                times,
                allowed,
                where="post",
                color=COLORS[name],
                linestyle=":",
                linewidth=1.4,
                label=f"{LABELS[name]}: governor's rate",
            )
            top = max(top, max(allowed) * 1.1)
    gov.axhline(rate["limit"], color="black", linestyle="--", linewidth=1, label="server limit")
    gov.set_ylim(0, top)
    gov.set_xlim(0, rate["window"])
    gov.set_xlabel("time since the jobs started (s)")
    gov.set_ylabel("engine: requests per second")
    gov.grid(alpha=0.3)
    gov.legend(loc="lower right", ncol=2, fontsize=8)
    gov.set_title(
        "The engine's rate governor: requests sent (refused included) and its rate", fontsize=10
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


#: The family's ratios (``test_family.py``): each figure's key, label and marker.
FAMILY_RATIOS = (
    ("requests_per_job", "requests per job", "o"),
    ("p50", "p50 delay to a change's sight", "s"),
    ("p99", "p99 delay", "^"),
    ("cpu_ms_per_job_hour", "client CPU per job-hour", "D"),
)
FAMILY_RESULTS = PLOTS / "family-results.json"


def draw_family(results: dict[str, Any], path: Path) -> Path:
    """Plot every seed's ratios of the engine to the 5 s loop (``test_family.py``'s results)."""
    seeds = results["seeds"]
    fig, ax = plt.subplots(figsize=(11, 4.8), layout="constrained")
    xs = list(range(len(seeds)))
    for k, (key, label, marker) in enumerate(FAMILY_RATIOS):
        shift = (k - 1.5) * 0.12
        ratios = [seed["ratios"][key] for seed in seeds]
        ax.plot([x + shift for x in xs], ratios, marker, label=label, markersize=7)
    ax.axhline(
        1.0, color="black", linewidth=1, label="the loop's (goal: at or under, 9 seeds in 10)"
    )
    ax.axhline(1.05, color="#d62728", linestyle="--", linewidth=1, label="never over 1.05x")
    ax.set_xticks(xs, [f"{seed['seed']}\n{seed['label']}" for seed in seeds], fontsize=7)
    ax.set_ylabel("engine (defaults) / hand-written 5 s aiohttp loop")
    ax.set_xlabel("seed of the family (durations, launches)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    fig.suptitle(
        f"A family of mixes: {results['jobs'][0]}-{results['jobs'][1]} jobs a seed, clock"
        f" x{results['speed']:g},"
        + (
            " side by side in one run per seed"
            if results.get("repeat", 1) == 1
            else f" side by side, the median of {results['repeat']} runs per seed"
        ),
        fontsize=11,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else source.parent
    for written in draw(json.loads(source.read_text()), target):
        print(written)
    family = source.parent / FAMILY_RESULTS.name
    if family.exists():
        print(draw_family(json.loads(family.read_text()), target / "family-ratios.png"))
