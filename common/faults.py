"""Fault injection, defined once for the three parts: the switches, and the one object that applies them.

Every switch is a `Settings` field set by its upper-case environment variable, and every one is off unless set:

| variable | effect |
|---|---|
| `INVENTORY_DELAY_MS` | inventory takes this many ms longer per order (A: per `/reserve`; B and C: per message) |
| `SIMULATED_DELAY` | the original lab's spelling of the same delay, in seconds (used when the one above is 0) |
| `FORCE_FAILURE` | inventory refuses every new order, recorded like any other outcome (A: 500 |
|   | `forced_failure`; B: `InventoryFailed` `service_error`; C: `forced_failure`) |
| `NOTIFICATION_FORCE_FAILURE` | Part A's notification-service answers 500 |

Services build `Faults.from_settings(settings)` in their composition root and call it at the one place where
the fault applies (`inventory()` before a reservation, `notification()` before a send). Scenario scripts turn
switches on for one (re)started service with `fault_env(...)`; every other (re)start clears them.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .settings import Settings

# The switches, listed once: Settings field names; each is set by its upper-case environment variable.
FAULTS = ("inventory_delay_ms", "simulated_delay", "force_failure", "notification_force_failure")
FAULT_VARS = tuple(name.upper() for name in FAULTS)


def fault_env(**switches) -> dict[str, str]:
    """The environment that turns faults on for a service (re)started with it: `fault_env(force_failure=True)`."""
    unknown = sorted(set(switches) - set(FAULTS))
    if unknown:
        raise ValueError(f"not a fault switch: {', '.join(unknown)} (the switches are {', '.join(FAULTS)})")
    return {name.upper(): str(v).lower() if isinstance(v, bool) else str(v) for name, v in switches.items()}


def without_faults(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with every fault switch removed: what a (re)start without explicit faults runs with."""
    return {k: v for k, v in env.items() if k not in FAULT_VARS}


@dataclass(frozen=True)
class Faults:
    """The faults a service runs with (settings: `inventory_delay_ms` already folds in SIMULATED_DELAY)."""

    delay_ms: int = 0
    force_failure: bool = False
    notification_force_failure: bool = False
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, sleep: Callable[[float], None] = time.sleep) -> Faults:
        return cls(settings.inventory_delay_ms, settings.force_failure, settings.notification_force_failure, sleep)

    @property
    def enabled(self) -> bool:
        return bool(self.delay_ms or self.force_failure or self.notification_force_failure)

    def as_dict(self) -> dict:
        """What an inventory's `/health` reports."""
        return {"delay_ms": self.delay_ms, "force_failure": self.force_failure}

    def announce(self, log: logging.Logger) -> None:
        """One warning at start-up when any fault is on, so a slow or failing service says why."""
        if self.enabled:
            log.warning("fault injection enabled", extra={"faults": self.as_dict() | {
                "notification_force_failure": self.notification_force_failure}})

    def inventory(self, orders: int = 1) -> bool:
        """Apply the inventory faults to `orders` orders about to be reserved: wait the injected delay for each,
        then answer whether they must be refused (FORCE_FAILURE)."""
        if self.delay_ms and orders:
            self.sleep(self.delay_ms * orders / 1000)
        return self.force_failure

    def notification(self) -> bool:
        """Whether a notification must fail (NOTIFICATION_FORCE_FAILURE)."""
        return self.notification_force_failure
