"""The analytics processes' garbage collector settings, applied once by their runners (the consumer's `main`, the
replay command), never by the fold.

A poll hands over thousands of new objects at once (the client's messages or records, the lists of values). Under
CPython's default threshold (a young collection every 700 new container objects) they outlive a few young
collections while they are read, are promoted, and soon set off a full collection, which walks every object the
process holds: about a tenth of a replay's time. Objects made during start-up (modules, the app, the state's
containers) live as long as the process: they are frozen, so no collection examines them again. Young collections
run every GEN0_THRESHOLD new objects: a poll's objects are then mostly freed by their reference counts before any
collection sees them. Nothing else changes: reference counting frees what is not in a cycle at once, and a cycle
waits at most GEN0_THRESHOLD allocations for its collection.
"""
from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000  # more than a poll's objects (the replay's polls: up to 20,000 messages)


def tune_gc(gen0: int = GEN0_THRESHOLD) -> None:
    """Freeze what exists now (call it when start-up is done) and raise the young generation's threshold."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0, gen1, gen2)
