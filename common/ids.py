"""The contract's identifiers: order ids sortable by creation time, event ids for idempotency."""
import re
import secrets
import time
import uuid

ORDER_ID_RE = re.compile(r"^ORD-\d{13}-[0-9a-f]{8}$")
EVENT_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def generate_order_id() -> str:
    """`ORD-<unix ms>-<8 lowercase hex>`."""
    return f"ORD-{int(time.time() * 1000)}-{secrets.token_hex(4)}"


def generate_event_id() -> str:
    """A 32-char lowercase hex UUID4."""
    return uuid.uuid4().hex


def is_order_id(value: object) -> bool:
    return isinstance(value, str) and ORDER_ID_RE.match(value) is not None


def is_event_id(value: object) -> bool:
    return isinstance(value, str) and EVENT_ID_RE.match(value) is not None
