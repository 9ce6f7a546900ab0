"""Turn the per-pattern results of `measure.py` into `docs/comparison.md`, `docs/comparison.json` and PNG plots."""
from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from labkit.evidence import commit, machine, replace_block
from labkit.stats import summarize

ORDER = ["sync-rest", "async-rabbitmq", "streaming-kafka"]
COLORS = {"sync-rest": "#d62728", "async-rabbitmq": "#ff7f0e", "streaming-kafka": "#1f77b4"}
SHORT = {"sync-rest": "REST", "async-rabbitmq": "RabbitMQ", "streaming-kafka": "Kafka"}


def _p(values, q):
    s = summarize(values)
    return {50: s.median, 95: s.p95, 99: s.p99}[q]


def loc(part: str, root: Path) -> int:
    """Lines of Python in a part, tests excluded: a crude but measured proxy for complexity."""
    files = [f for f in (root / part).rglob("*.py") if "tests" not in f.parts]
    return sum(len(f.read_text().splitlines()) for f in files)


def plot_latency(results: dict, out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for ax, key, title in ((axes[0], "client_ms", "What the client waits for (HTTP response)"),
                           (axes[1], "final_ms", "Until the order's outcome is known")):
        data, labels, colors = [], [], []
        for part in ORDER:
            r = results[part]
            for phase, name in (("normal", "normal"), ("slow", f"+{r['delay_ms']} ms")):
                data.append(r[phase][key])
                labels.append(f"{SHORT[part]}\n{name}")
                colors.append(COLORS[part])
        box = ax.boxplot(data, patch_artist=True, showfliers=True, whis=(1, 99))
        ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
        for patch, c, i in zip(box["boxes"], colors, range(len(colors)), strict=True):
            patch.set_facecolor(c)
            patch.set_alpha(0.35 if i % 2 == 0 else 0.8)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("latency (ms, log scale)")
    fig.suptitle(f"Client latency per pattern, inventory normal and +{results[ORDER[0]]['delay_ms']} ms slow "
                 "(whiskers: p1-p99)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_outage(results: dict, out: Path) -> None:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    any_outage = results[ORDER[1]]["outage"]
    ax.axvspan(any_outage["down_at_s"], any_outage["up_at_s"], color="grey", alpha=0.15,
               label="inventory down (async/streaming run)")
    for part in ORDER[1:]:
        o = results[part]["outage"]
        t = [s["t"] for s in o["samples"] if s["backlog"] is not None]
        b = [s["backlog"] for s in o["samples"] if s["backlog"] is not None]
        name = "queue depth (inventory_orders)" if part == "async-rabbitmq" else "lag (inventory-group)"
        ax.plot(t, b, color=COLORS[part], label=f"{results[part]['label']}: {name}", lw=2)
    a = results["sync-rest"]["outage"]
    ax.plot([], [], color=COLORS["sync-rest"], lw=2,
            label=f"Sync REST: no backlog ({a['rejected_at_once']} of {a['orders']} orders rejected at once: "
                  f"{rejected_statuses(a)})")
    ax.set_xlabel("time since the outage began (s)")
    ax.set_ylabel("orders waiting in the broker")
    ax.set_title(f"Backlog while inventory is down for {any_outage['up_at_s'] - any_outage['down_at_s']:.0f} s")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    cats = ["accepted", "rejected_at_once", "confirmed", "failed", "lost"]
    width = 0.25
    for i, part in enumerate(ORDER):
        o = results[part]["outage"]
        bx.bar([c + (i - 1) * width for c in range(len(cats))], [o[c] for c in cats], width,
               color=COLORS[part], label=results[part]["label"])
    bx.set_xticks(range(len(cats)), ["accepted\n(201/202)", "rejected\nat once", "confirmed\nafter", "failed\nafter",
                                     "lost"], fontsize=8)
    bx.set_ylabel(f"orders (of {a['orders']} placed during the outage)")
    bx.set_title("Outcome of the orders placed during the outage")
    bx.legend(fontsize=8)
    bx.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_lag(results: dict, out: Path) -> None:
    o = results["streaming-kafka"]["outage"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.axvspan(o["down_at_s"], o["up_at_s"], color="grey", alpha=0.15, label="inventory-consumer stopped")
    for group, style in (("inventory-group", "-"), ("analytics-group", "--")):
        pts = [(s["t"], s["lag"][group]) for s in o["samples"] if s.get("lag")]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, lw=2, label=group)
    ax.set_xlabel("time since the outage began (s)")
    ax.set_ylabel("consumer lag (events, all partitions)")
    ax.set_title("Kafka consumer lag per group, while inventory-consumer is stopped and after it is back")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def rejected_statuses(outage: dict) -> str:
    """The statuses of the orders refused at once, as the client got them ("503 x150"), not assumed."""
    refused = {s: n for s, n in outage.get("client_statuses", {}).items() if s not in ("201", "202")}
    return ", ".join(f"HTTP {s} x{n}" for s, n in sorted(refused.items())) or "none"


def delay_effect(results: dict) -> str:
    """What the injected delay did to each pattern, in this run's figures."""
    def one(x: dict) -> str:
        grew = _p(x["slow"]["client_ms"], 50) - _p(x["normal"]["client_ms"], 50)
        return f"{x['label']}: the client's p50 {grew:+,.1f} ms, the outcome known at p50 {_p(x['slow']['final_ms'], 50):,.1f} ms"
    return f"With inventory {results[ORDER[0]]['delay_ms']} ms slower: {'; '.join(one(results[p]) for p in ORDER)}."


def _row(results: dict, name: str, fn) -> str:
    """One table row: the property, then `fn` of each pattern's results in ORDER."""
    return f"| {name} | " + " | ".join(fn(results[p]) for p in ORDER) + " |"


def table(results: dict, root: Path, memory: dict | None) -> list[str]:
    r = [results[p] for p in ORDER]

    def row(name, fn):
        return _row(results, name, fn)

    def lat(x, phase, key):
        return f"p50 {_p(x[phase][key], 50):,.1f} / p99 {_p(x[phase][key], 99):,.1f}"

    def outage(x):
        o = x["outage"]
        return (f"{o['accepted']}/{o['orders']} accepted, {o['rejected_at_once']} rejected; after: "
                f"{o['confirmed']} confirmed, {o['failed']} failed, **{o['lost']} lost**")

    def replay(x):
        rp = x["replay"]
        if rp["possible"]:
            return (f"yes: {rp['events_available']:,} events re-read in {rp['seconds']} s, "
                    f"metrics equal to live: {rp['equal_to_live']}")
        return f"no: {rp['events_available']} events left to re-read"

    def drain(x):
        o = x["outage"]
        return "n/a (nothing queued)" if x["part"] == "sync-rest" else f"{o['settled_at_s'] - o['up_at_s']:.1f} s"

    lines = [
        "| Property (measured) | Sync REST | Async (RabbitMQ) | Streaming (Kafka) |",
        "|---|---|---|---|",
        row("Coupling: orders accepted while inventory is down", lambda x: f"{x['outage']['accepted']} of "
            f"{x['outage']['orders']}"),
        row("Latency, client (ms), inventory normal", lambda x: lat(x, "normal", "client_ms")),
        row(f"Latency, client (ms), inventory +{r[0]['delay_ms']} ms", lambda x: lat(x, "slow", "client_ms")),
        row("Latency impact: client p50 slow minus normal (ms)",
            lambda x: f"{_p(x['slow']['client_ms'], 50) - _p(x['normal']['client_ms'], 50):+,.1f}"),
        row(f"Outcome known (ms), inventory +{r[0]['delay_ms']} ms", lambda x: lat(x, "slow", "final_ms")),
        row(f"Failure handling: {r[0]['outage_s']} s inventory outage", outage),
        row("Time from inventory's return to every order settled", drain),
        row("Replay: can history be recomputed?", replay),
        row("Complexity: Python lines (tests excluded)", lambda x: f"{loc(x['part'], root):,}"),
    ]
    if memory:
        lines.append(row("Complexity: peak memory of the native stack (MiB)",
                         lambda x: f"{memory.get(x['part'], float('nan')):,.0f}"))
    return lines


def readme_block(results: dict) -> str:
    """The README's summary of the comparison, rendered from the same results as comparison.md."""
    first = results[ORDER[0]]

    def row(name, fn):
        return _row(results, name, fn)

    def outage(x):
        o = x["outage"]
        return f"{o['accepted']} accepted, {o['confirmed']} confirmed, {o['failed']} failed, {o['lost']} lost"

    def replay(x):
        rp = x["replay"]
        if not rp["possible"]:
            return "no: nothing left to re-read"
        return f"yes: {rp['events_available']:,} events, equal to live metrics: {rp['equal_to_live']}"

    lines = [
        "From the last `make demo` ([docs/comparison.md](docs/comparison.md), same workload and faults for all three):",
        "",
        "| measured | Sync REST | Async (RabbitMQ) | Streaming (Kafka) |",
        "|---|---|---|---|",
        row(f"client latency p50, inventory normal / +{first['delay_ms']} ms",
            lambda x: f"{_p(x['normal']['client_ms'], 50):,.1f} ms / {_p(x['slow']['client_ms'], 50):,.1f} ms"),
        row(f"outcome known p50, inventory +{first['delay_ms']} ms",
            lambda x: f"{_p(x['slow']['final_ms'], 50):,.1f} ms"),
        row(f"{first['outage']['orders']} orders during a {first['outage_s']} s inventory outage", outage),
        row("history recomputable (replay)", replay),
    ]
    return "\n".join(lines)


DASHBOARDS = (("sync-rest", "Part A: inventory stopped, the breaker open"),
              ("async-rabbitmq", "Part B: the backlog in inventory_orders"),
              ("streaming-kafka", "Part C: the inventory group's lag"))


def dashboards(root: Path) -> list[str]:
    """The live dashboards at each part's outage peak (`make demo`'s screenshots), where they have been taken."""
    shots = [(part, caption) for part, caption in DASHBOARDS
             if (root / "docs" / "img" / f"dashboard_{part}.png").exists()]
    if not shots:
        return []
    return ["The live dashboards (port 6003) during each part's outage, taken by `make demo` "
            "(`.venv/bin/python -m labkit.dashboard_shots`):", "",
            *[f"![{caption}](img/dashboard_{part}.png)\n" for part, caption in shots]]


def write(results: dict, root: Path, memory: dict | None = None) -> list[Path]:
    docs, img = root / "docs", root / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    plot_latency(results, img / "latency.png")
    plot_outage(results, img / "outage_backlog.png")
    plot_lag(results, img / "consumer_lag.png")
    (docs / "comparison.json").write_text(json.dumps(results, indent=1))
    md = [
        "# The three patterns, measured",
        "",
        f"Generated by `make demo` (`scripts/compare.py`) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"commit {commit()}, {machine()}. Each part ran natively, one after another, with the same workload: "
        "the same orders, the same injected faults. Raw data: [comparison.json](comparison.json).",
        "",
        f"Workload: sequential orders with inventory normal, then with "
        f"`INVENTORY_DELAY_MS={results['sync-rest']['delay_ms']}`; then inventory "
        f"stopped for {results['sync-rest']['outage_s']} s while orders arrive at "
        f"{results['sync-rest']['outage']['rate_per_s']}/s, then started again; finally a replay attempt.",
        "",
        *table(results, root, memory),
        "",
        "The original lab's prose table said the same things; here each cell is what this run measured.",
        "",
        "Not measured by this workload, so not in the table above: ordering. By design, Sync REST handles each "
        "request in call order; RabbitMQ delivers FIFO per queue, and a redelivery can reorder; Kafka keeps order "
        "per partition, and events are keyed by order_id.",
        "",
        "## Plots",
        "",
        "![Client latency per pattern](img/latency.png)",
        "",
        delay_effect(results),
        "",
        "![Backlog during the outage](img/outage_backlog.png)",
        "",
        "![Kafka consumer lag](img/consumer_lag.png)",
        "",
        *dashboards(root),
        "## How to reproduce",
        "",
        "`make demo` runs this after the three parts' scenario scripts; `.venv/bin/python scripts/compare.py` runs "
        "only the comparison (each part is started natively, measured by "
        "`.venv/bin/python -m comparison.measure <part>`, stopped).",
    ]
    (docs / "comparison.md").write_text("\n".join(md) + "\n")
    readme = root / "README.md"
    if readme.exists() and "<!-- comparison:start -->" in readme.read_text():
        replace_block(readme, "comparison", readme_block(results))
    return [docs / "comparison.md", docs / "comparison.json", img / "latency.png", img / "outage_backlog.png",
            img / "consumer_lag.png"]


