"""Part B's failover evidence on the three-node cluster: `python -m async_rabbitmq.lab.evidence failover` (or
`python async-rabbitmq/tests/test_failover.py`) against a running cluster (`make up PART=async-rabbitmq
BROKERS=3`, with BROKERS=3 also in this command's environment) writes `async-rabbitmq/tests/failover_evidence.txt`
and `docs/img/rabbitmq_failover.png` (5,000 orders per queue type).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from async_rabbitmq.lab import failover as fo
from async_rabbitmq.lab.client import Client
from async_rabbitmq.messaging.nodes import nodes
from common.settings import ROOT, Settings, get_settings
from labkit import evidence
from labkit.stack import get_stack

PART_DIR = ROOT / "async-rabbitmq"  # the part's folder

OUTPUT = PART_DIR / "tests" / "failover_evidence.txt"
PLOT = ROOT / "docs" / "img" / "rabbitmq_failover.png"


# ---------------------------------------------------------------- evidence writer
def _rate(times: list[float], end: float, bin_s: float = 0.5) -> tuple[list[float], list[float]]:
    bins = [0] * (int(end / bin_s) + 1)
    for t in times:
        if 0 <= t <= end:
            bins[int(t / bin_s)] += 1
    return [i * bin_s for i in range(len(bins))], [c / bin_s for c in bins]


def plot(results: dict[str, fo.FailoverResult], path: Path = PLOT) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 1, figsize=(12, 3.4 * len(results)), sharex=True)
    for ax, (qt, r) in zip(list(axes) if len(results) > 1 else [axes], results.items(), strict=True):
        end = max([*r.final_at, *r.accepted_at, r.node_back_s]) + 1
        ax.plot(*_rate(r.accepted_at, end), label="orders accepted (202) /s", color="#999999", lw=1,
                drawstyle="steps-post")
        ax.plot(*_rate(r.final_at, end), label="orders reaching a final state /s", color="#1f77b4",
                lw=1.6, drawstyle="steps-post")
        ax.axvspan(r.kill_s, r.node_back_s, color="#d62728", alpha=0.08)
        marks = [(r.kill_s, f"kill -9 {r.killed_service}", "#d62728"),
                 (r.restart_begun_s, "restart begun", "#ff7f0e"), (r.node_back_s, "node back", "#2ca02c")]
        if r.leader_change_s is not None:
            marks.insert(1, (r.leader_change_s, "leader change", "#9467bd"))
        for t, label, color in marks:
            ax.axvline(t, color=color, ls="--", lw=1, label=f"{label} ({t:.1f} s)")
        ax.set_title(f"{qt} queues: {r.n} orders at {r.rate:g}/s; lost {r.lost}, flow back "
                     f"{r.resumed_after_kill_s:.1f} s after the kill")
        ax.set_ylabel("orders / s")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7)
    ax.set_xlabel("seconds since the load began (0.5 s bins)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _one(r: fo.FailoverResult) -> list[str]:
    out = [f"  {r.n} orders placed at {r.rate:g}/s; {r.accepted_202} answered 202; the node is held down "
           f"{r.down_s:g} s, then started again", "  timeline (seconds since the load began):"]
    out += [f"    t={t:7.2f}s  {what}" for t, what in r.timeline]
    out += [
        f"  AMQP connections at the kill (service@node): {', '.join(r.clients_at_kill)}",
        f"  inventory_orders at the kill, by the management API: on {r.leader_at_kill or 'no node'}",
        (f"  leader before {r.leader_before}; while down {r.leader_while_down or '-'}; after {r.leader_after}"
         f" (replicas online after: {len(r.members_online_after)} of 3)" if r.queue_type == "quorum" else
         f"  the queue ran on {r.leader_before} before; while that node was down on {r.leader_while_down or 'no node'}"
         f" (the clients' re-declarations on the other nodes are refused: its home node is down); after on"
         f" {r.leader_after}"),
        f"  orders flowed again {r.resumed_after_kill_s} s after the kill (longest pause without a final state"
        f" while the node was down: {r.stall_s} s); the node itself was back {r.node_back_s - r.kill_s:.1f} s after"
        f" the kill; longest pause from its restart on: {r.restart_stall_s} s",
        f"  final states: {r.counts}; lost (accepted, never final): {r.lost}",
        f"  inventory reservation records: {r.reservation_records} for {r.accepted_202} orders; reserved twice:"
        f" {r.reserved_twice}; redeliveries recognised as duplicates: {r.duplicates_seen}",
        "  stock arithmetic per item: initial - units of confirmed orders == final stock",
        *[f"    {item:<7} {a['initial']:>6} - {a['confirmed_units']:>6} = {a['initial'] - a['confirmed_units']:>6}"
          f"  final {a['final']:>6}  exact: {a['exact']}" for item, a in r.arithmetic.items()],
    ]
    return out


def _classic_contrast(c: fo.FailoverResult) -> str:
    """What the classic run showed while its node was down, from its orders' final times, not assumed."""
    moved = sum(c.kill_s < t < c.restart_begun_s for t in c.final_at)
    if moved == 0:
        return "the classic queue lives on the killed node: no order reached a final state until it was started again"
    return f"{moved} orders reached a final state while the classic queue's node was down"


def render(results: dict[str, fo.FailoverResult], runtime: str, cluster: str) -> str:
    out = [evidence.header("Part B: a RabbitMQ node killed under load, quorum queues vs classic queues "
                           "(three-node cluster)", runtime), f"cluster : {cluster}\n"]
    for i, (qt, r) in enumerate(results.items(), 1):
        out.append(f"\nTEST {i}: {qt} queues, kill -9 of the node leading inventory_orders\n" + "-" * 78)
        out += _one(r)
    q, c = results.get("quorum"), results.get("classic")
    if q and c:
        out += ["\nCONTRAST", "-" * 78,
                f"  orders flowed again after the kill: quorum {q.resumed_after_kill_s} s, classic "
                f"{c.resumed_after_kill_s} s ({_classic_contrast(c)})",
                f"  lost: quorum {q.lost}, classic {c.lost}; reserved twice: quorum {q.reserved_twice},"
                f" classic {c.reserved_twice}"]
    out.append(f"\nplot: {PLOT.relative_to(ROOT)}")
    return "\n".join(out) + "\n"


def describe_cluster(settings: Settings) -> str:
    return "; ".join(f"{n.service} {n.nodename} AMQP {n.amqp_port} mgmt {n.mgmt_port}" for n in nodes(settings))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--output", type=Path, default=OUTPUT)
    ap.add_argument("--small", action="store_true", help="pytest's scale (300 orders) instead of 5,000")
    args = ap.parse_args(argv)
    settings = get_settings()
    if settings.cluster_size < 3:
        print("the failover scenarios need the cluster: BROKERS=3 make up PART=async-rabbitmq, and BROKERS=3 here")
        return 2
    stack = get_stack("async-rabbitmq", "native", settings)
    results = fo.run_both(stack, Client(settings), full=not args.small,
                          progress=lambda m: print(f"[async-rabbitmq] {m}", flush=True))
    evidence.write(args.output, render(results, stack.describe(), describe_cluster(settings)))
    plot(results)
    print(f"[async-rabbitmq] evidence written to {args.output} and {PLOT}")
    return 0
