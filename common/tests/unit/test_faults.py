"""common.faults: the switches listed once, and the one object each part applies them through."""
import logging

import pytest

from common.faults import FAULT_VARS, Faults, fault_env, without_faults
from common.settings import Settings

pytestmark = pytest.mark.unit


def test_off_unless_set():
    faults = Faults.from_settings(Settings())
    assert not faults.enabled and faults.inventory(100) is False and faults.notification() is False


def test_inventory_waits_the_delay_per_order_then_says_whether_to_refuse():
    slept = []
    faults = Faults.from_settings(Settings(inventory_delay_ms=200, force_failure=True), sleep=slept.append)
    assert faults.inventory(3) is True
    assert slept == [pytest.approx(0.6)]
    assert faults.inventory(0) is True and len(slept) == 1  # nothing to reserve: no wait


def test_the_original_labs_simulated_delay_in_seconds_is_the_same_fault():
    assert Faults.from_settings(Settings(simulated_delay=1.5)).delay_ms == 1500


def test_health_and_log_say_which_faults_are_on(caplog):
    faults = Faults.from_settings(Settings(force_failure=True))
    assert faults.as_dict() == {"delay_ms": 0, "force_failure": True}
    with caplog.at_level(logging.WARNING):
        Faults().announce(logging.getLogger("t"))
        assert not caplog.records
        faults.announce(logging.getLogger("t"))
    assert [r.message for r in caplog.records] == ["fault injection enabled"]


def test_every_switch_is_a_settings_field_and_its_env_var_round_trips():
    env = fault_env(inventory_delay_ms=40, force_failure=True, notification_force_failure=True)
    assert Faults.from_settings(Settings(**{k.lower(): v for k, v in env.items()})) == Faults(40, True, True)
    assert without_faults(env | {"PATH": "/bin"}) == {"PATH": "/bin"}
    assert all(var.lower() in Settings.model_fields for var in FAULT_VARS)
