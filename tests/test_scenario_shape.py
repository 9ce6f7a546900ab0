"""The three parts' scenarios keep one shape: every scenario is `(stack, client, <keywords with
defaults>) -> <dataclass>`, with `client` the part's StackClient subclass, and `run_all(stack, settings,
full=True, progress=...)` returns a dataclass of those results in every part."""
from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest

from async_rabbitmq.lab import client as client_b
from async_rabbitmq.lab import scenarios as part_b
from labkit.client import StackClient
from labkit.stack import Stack
from streaming_kafka.lab import client as client_c
from streaming_kafka.lab import scenarios as part_c
from sync_rest.lab import client as client_a
from sync_rest.lab import scenarios as part_a

pytestmark = pytest.mark.unit

# One template: each part's client is `<part>.lab.client.Client`.
PARTS = {"sync-rest": (part_a, client_a.Client), "async-rabbitmq": (part_b, client_b.Client),
         "streaming-kafka": (part_c, client_c.Client)}
RUN_ALL = ["stack", "settings", "full", "progress"]


def _is_dataclass_type(tp) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def scenario_problems(fn, client_cls: type) -> list[str]:
    """What is wrong with `fn` as a scenario of the part whose client is `client_cls` (empty: nothing)."""
    name = getattr(fn, "__name__", repr(fn))
    params = list(inspect.signature(fn).parameters.values())
    if [p.name for p in params[:2]] != ["stack", "client"]:
        return [f"{name}: the first parameters are {[p.name for p in params[:2]]}, not ['stack', 'client']"]
    hints = typing.get_type_hints(fn)
    problems = []
    if hints.get("stack") is not Stack:
        problems.append(f"{name}: stack is annotated {hints.get('stack')!r}, not Stack")
    if hints.get("client") is not client_cls or not issubclass(client_cls, StackClient):
        problems.append(f"{name}: client is annotated {hints.get('client')!r}, not {client_cls.__name__}")
    for p in params[2:]:
        if p.default is inspect.Parameter.empty or p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            problems.append(f"{name}: {p.name} is not a keyword argument with a default")
    if not _is_dataclass_type(hints.get("return")):
        problems.append(f"{name}: returns {hints.get('return')!r}, not a dataclass")
    return problems


def _public_functions_taking_stack(module) -> set:
    return {fn for name, fn in inspect.getmembers(module, inspect.isfunction)
            if fn.__module__ == module.__name__ and not name.startswith("_") and name != "run_all"
            and "stack" in inspect.signature(fn).parameters}


@pytest.mark.parametrize("part", PARTS)
def test_every_scenario_takes_stack_client_and_keywords_and_returns_a_dataclass(part):
    module, client_cls = PARTS[part]
    assert module.SCENARIOS, f"{part} lists no scenarios"
    # a function that drives the stack is a scenario, listed (so a new one cannot skip the rule)
    assert _public_functions_taking_stack(module) == set(module.SCENARIOS)
    problems = [p for fn in module.SCENARIOS for p in scenario_problems(fn, client_cls)]
    assert not problems, problems


@pytest.mark.parametrize("part", PARTS)
def test_run_all_has_one_signature_and_returns_a_dataclass_of_results(part):
    module, _ = PARTS[part]
    sig = inspect.signature(module.run_all)
    assert list(sig.parameters) == RUN_ALL
    assert sig.parameters["full"].default is True and callable(sig.parameters["progress"].default)
    results = typing.get_type_hints(module.run_all)["return"]
    assert _is_dataclass_type(results), f"{part}: run_all returns {results!r}"
    fields = typing.get_type_hints(results)
    assert fields.pop("seconds") == dict[str, float]  # each scenario's duration
    returned = {typing.get_type_hints(fn)["return"] for fn in module.SCENARIOS}
    assert fields and all(tp in returned for tp in fields.values()), fields


def test_the_check_finds_each_way_to_break_the_shape():
    def old_b(stack: Stack, lab: client_b.Client, n: int) -> dict: ...  # a shape Part B once had
    def old_c(settings, stack: Stack, count: int) -> part_c.Crash: ...  # a shape Part C once had
    def wrong_client(stack: Stack, client: client_a.Client) -> part_c.Crash: ...
    def positional_scale(stack: Stack, client: client_b.Client, n: int) -> part_b.Crash: ...
    def returns_a_dict(stack: Stack, client: client_b.Client, n: int = 1) -> dict: ...
    def fine(stack: Stack, client: client_b.Client, n: int = 1, *, seed: int = 7) -> part_b.Crash: ...

    for fn in (old_b, old_c, wrong_client, positional_scale, returns_a_dict):
        assert scenario_problems(fn, client_b.Client), fn.__name__
    assert scenario_problems(fine, client_b.Client) == []
