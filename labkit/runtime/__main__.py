"""`python -m labkit.runtime <verb>`: the native counterpart of `docker compose up/down/stop/start/ps/logs`, plus
`reset` (forget a part's data) and `watch` (its backlog, every second)."""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

from common.errors import StackError, exit_status
from common.settings import check_environment, get_settings
from labkit.runtime import compose as compose_ps
from labkit.runtime.control import Part, all_parts
from labkit.runtime.spec import PARTS, load_backlog
from labkit.runtime.watch import watch


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def cmd_ps(_args, parts: Callable[[], list[Part]] = all_parts,
           compose: Callable[[], list[compose_ps.Container]] = compose_ps.containers) -> int:
    """Both runtimes: the native parts' services, then the lab's compose stacks (when an engine answers)."""
    rows = [["PART", "SERVICE", "STATE", "PID", "PORT", "DETAIL"]]
    for part in parts():
        for r in part.rows():
            rows.append([r.part, r.service, r.state, str(r.pid or "-"), str(r.port or "-"), r.detail])
    containers = compose()
    if len(rows) == 1 and not containers:
        print("nothing is running (start a part with `make up PART=<part>` or `make docker-up PART=<part>`)")
        return 0
    if len(rows) > 1:
        print(_table(rows))
    if containers:
        if len(rows) > 1:
            print()
        projects = sorted({c.project for c in containers})
        print("compose stacks (docker): " + "; ".join(f"{p}: {compose_ps.freeing_command(p)} stops it"
                                                       for p in projects))
        table = [["PROJECT", "SERVICE", "STATE", "STATUS", "PORTS"]]
        table += [[c.project, c.service, c.state, c.status, c.ports] for c in containers]
        print(_table(table))
    return 0


def cmd_logs(part: Part, service: str | None, lines: int, follow: bool = False,
             keep_going: Callable[[], bool] = lambda: True, poll_s: float = 0.2) -> int:
    """The last lines of each log (one service's, or all of the part's); with `follow`, then every new line as
    it is written (`tail -f`; prefixed with the service's name when several are followed) until Ctrl-C."""
    names = [part.service(service).name] if service else [s.name for s in part.services]  # an unknown name raises
    # Where following starts, taken before the tail is read, so no line written in between is missed.
    offsets = {n: (part.log_path(n).stat().st_size if part.log_path(n).exists() else 0) for n in names}
    for svc in names:
        print(f"==> {svc} <==\n{part.tail(svc, lines)}", flush=True)
    if not follow:
        return 0
    partial = dict.fromkeys(names, b"")
    try:
        while keep_going():
            for n in names:
                path = part.log_path(n)
                size = path.stat().st_size if path.exists() else 0
                if size < offsets[n]:  # truncated or rotated (supervisord's maxbytes): read the new file
                    offsets[n], partial[n] = 0, b""
                if size == offsets[n]:
                    continue
                with path.open("rb") as fh:
                    fh.seek(offsets[n])
                    data = partial[n] + fh.read(size - offsets[n])
                offsets[n] = size
                *done, partial[n] = data.split(b"\n")
                for line in done:
                    text = line.decode(errors="replace")
                    print(f"{n} | {text}" if len(names) > 1 else text)
            sys.stdout.flush()
            time.sleep(poll_s)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_watch(part: str, interval: float, count: int | None) -> int:
    from labkit.stack import compose_running, docker_client_settings  # at call time: labkit.stack imports the runtime

    settings = get_settings()
    runtime = settings.stack_runtime
    if runtime == "auto":  # as the scenario scripts choose: the part's compose stack when one runs
        runtime = "docker" if compose_running(part) else "native"
    if runtime == "docker":
        settings = docker_client_settings(settings)
    sample = load_backlog(part, settings)
    if sample is None:
        raise StackError(f"{part} has no backlog to watch: every call is synchronous "
                         f"(`make logs PART={part} FOLLOW=1` shows the requests as they come)")
    print(f"[{part}] {sample.__doc__ or 'backlog'} of the {runtime} stack, every {interval:g} s "
          f"(STACK_RUNTIME=native|docker chooses; Ctrl-C ends)", flush=True)
    return watch(sample, interval, count)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labkit.runtime", description=__doc__)
    sub = ap.add_subparsers(dest="verb", required=True)
    for verb in ("up", "stop", "start", "logs", "kill"):
        p = sub.add_parser(verb)
        p.add_argument("part", choices=PARTS)
        if verb != "up":
            p.add_argument("service", nargs="?" if verb == "logs" else None)
        if verb == "logs":
            p.add_argument("-n", "--lines", type=int, default=40)
            p.add_argument("-f", "--follow", action="store_true", help="then print new lines as they come (Ctrl-C ends)")
    sub.add_parser("down").add_argument("part", nargs="?", choices=PARTS)
    sub.add_parser("ps")
    sub.add_parser("reset", help="forget the part's native data (it must be down)").add_argument("part", choices=PARTS)
    w = sub.add_parser("watch", help="the part's backlog every INTERVAL seconds, until Ctrl-C")
    w.add_argument("part", choices=PARTS)
    w.add_argument("-i", "--interval", type=float, default=1.0)
    w.add_argument("-n", "--count", type=int, help="stop after this many samples")
    args = ap.parse_args(argv)
    try:
        check_environment(dict(os.environ))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    if args.verb == "ps":
        return cmd_ps(args)
    if args.verb == "down":
        for part in ([Part(args.part)] if args.part else all_parts()):
            part.down()
        return 0
    if args.verb == "watch":
        return cmd_watch(args.part, args.interval, args.count)
    part = Part(args.part)
    if args.verb == "reset":
        part.reset()
        return 0
    if args.verb == "up":
        print(f"starting {args.part} natively (logs in {part.logs})")
        part.up()
        print(f"{args.part} is up: `make ps` shows it, `make down` stops it")
    elif args.verb == "start":
        part.start(args.service)
    elif args.verb == "stop":
        part.stop(args.service)
    elif args.verb == "kill":
        print(f"killed {args.part}/{args.service} (pid {part.kill(args.service)}) with SIGKILL")
    elif args.verb == "logs":
        return cmd_logs(part, args.service, args.lines, args.follow)
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
