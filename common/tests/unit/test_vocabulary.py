"""The vocabulary speaks the external contract's words: bodies, events and database rows carry these strings."""
import json

import orjson
import pytest

from common.vocabulary import OrderStatus, ReservationOutcome

pytestmark = pytest.mark.unit

# The contract's words, as it writes them: `GET /order/<id>` gives `pending`, `confirmed` or `failed`;
# Part A's `POST /order` fails with reason `service_error` (422), `inventory_unavailable` (503),
# `inventory_timeout` (504) or `out_of_stock` (409).
CONTRACT_STATUSES = {"PENDING": "pending", "CONFIRMED": "confirmed", "FAILED": "failed"}
CONTRACT_REASONS = {"SERVICE_ERROR": "service_error", "INVENTORY_UNAVAILABLE": "inventory_unavailable",
                    "INVENTORY_TIMEOUT": "inventory_timeout", "OUT_OF_STOCK": "out_of_stock"}
# Not named by the contract, but stored in every part's reservation records and sent in events and bodies.
STORED_OUTCOMES = {"RESERVED": "reserved", "UNKNOWN_ITEM": "unknown_item", "REJECTED": "rejected",
                   "FORCED_FAILURE": "forced_failure"}


@pytest.mark.parametrize("name, word", CONTRACT_STATUSES.items())
def test_order_statuses_are_the_contracts_words(name, word):
    assert OrderStatus[name] == word and OrderStatus(word) is OrderStatus[name]


@pytest.mark.parametrize("name, word", {**CONTRACT_REASONS, **STORED_OUTCOMES}.items())
def test_reservation_outcomes_keep_their_words(name, word):
    assert ReservationOutcome[name] == word and ReservationOutcome(word) is ReservationOutcome[name]


def test_every_member_is_pinned():
    assert {m.name for m in ReservationOutcome} == set(CONTRACT_REASONS) | set(STORED_OUTCOMES)
    assert {m.name for m in OrderStatus} == set(CONTRACT_STATUSES) | {"UNKNOWN"}


def test_a_member_is_written_as_its_word_everywhere():
    body = {"status": OrderStatus.FAILED, "reason": ReservationOutcome.OUT_OF_STOCK}
    expected = {"status": "failed", "reason": "out_of_stock"}
    assert json.loads(json.dumps(body)) == expected and orjson.loads(orjson.dumps(body)) == expected
    assert f"{OrderStatus.PENDING}" == "pending" and "%s" % ReservationOutcome.RESERVED == "reserved"
