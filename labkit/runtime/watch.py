"""`make watch PART=<part>`: a part's backlog, one line per sample, until Ctrl-C (Part B: each queue's messages
waiting; Part C: each consumer group's lag). What is sampled is the part's `stack.backlog(settings)`."""
from __future__ import annotations

import time
from collections.abc import Callable


def watch(sample: Callable[[], dict], interval: float = 1.0, count: int | None = None, out=print,
          sleep: Callable[[float], None] = time.sleep, clock: Callable[[], str] = lambda: time.strftime("%H:%M:%S"),
          header_every: int = 20) -> int:
    """Print `sample()` every `interval` seconds as a table row under a header naming its keys (again every
    `header_every` rows, and whenever the keys change), `count` times or until Ctrl-C. A sample that fails (the
    broker restarting, say) prints its error on its row and the watch goes on."""
    columns: list[str] = []
    rows = 0
    try:
        while count is None or rows < count:
            try:
                values = sample()
            except Exception as err:  # noqa: BLE001 - shown on the row, the next sample may work
                out(f"{clock()}  {type(err).__name__}: {err}".splitlines()[0])
            else:
                if list(values) != columns or rows % header_every == 0:
                    columns = list(values)
                    widths = [max(len(c), 8) for c in columns]
                    out("  ".join(["time    ", *(c.rjust(w) for c, w in zip(columns, widths, strict=True))]))
                widths = [max(len(c), 8) for c in columns]
                out("  ".join([clock(), *(str(values[c]).rjust(w) for c, w in zip(columns, widths, strict=True))]))
            rows += 1
            if count is None or rows < count:
                sleep(interval)
    except KeyboardInterrupt:
        pass
    return 0
