"""The contract's identifiers: order ids sortable by creation time, event ids for idempotency."""
import os
import re
import secrets
import time

ORDER_ID_RE = re.compile(r"^ORD-\d{13}-[0-9a-f]{8}$")
EVENT_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def generate_order_id() -> str:
    """`ORD-<unix ms>-<8 lowercase hex>`."""
    return f"ORD-{int(time.time() * 1000)}-{secrets.token_hex(4)}"


def generate_event_id() -> str:
    """A 32-char lowercase hex UUID, version 7 (RFC 9562): the Unix time in milliseconds, then 74 random bits.

    Time-ordered on purpose: event ids are the keys of the consumers' idempotency records (an index in SQLite),
    and ids made close in time land next to each other there, so a batch's inserts touch a few index pages
    instead of one page each, which its commit would write to the WAL."""
    return uuid7_hex(time.time_ns() // 1_000_000, int.from_bytes(os.urandom(10)))


def generate_event_ids(n: int, unix_ms: int | None = None) -> list[str]:
    """`n` event ids as `generate_event_id` makes them (of `unix_ms`, default now), with one clock read and one
    urandom call for all: each is the time's prefix, 3 random hex digits, the variant digit, 15 random hex digits
    (74 random bits)."""
    unix_ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    prefix = f"{unix_ms & 0xFFFF_FFFF_FFFF:012x}7"
    entropy = os.urandom(10 * n).hex()  # 20 hex digits per id, 19 used
    return [f"{prefix}{entropy[i:i + 3]}{_VARIANT_DIGIT[entropy[i + 3]]}{entropy[i + 4:i + 19]}"
            for i in range(0, 20 * n, 20)]


# The variant digit (10xx in binary) from any hex digit's low two bits.
_VARIANT_DIGIT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def uuid7_hex(unix_ms: int, entropy: int) -> str:
    """The hex of a UUIDv7 for `unix_ms`, its random bits taken from the low 74 bits of `entropy`:
    48 bits of time, version 7, 12 random bits, variant 10, 62 random bits."""
    return f"{unix_ms & 0xFFFF_FFFF_FFFF:012x}7{(entropy >> 62) & 0xFFF:03x}{(entropy & _RAND_B) | _VARIANT:016x}"


_RAND_B = (1 << 62) - 1
_VARIANT = 1 << 63  # the variant bits 10, on top of rand_b's 62 bits


def is_order_id(value: object) -> bool:
    return isinstance(value, str) and ORDER_ID_RE.match(value) is not None


def is_event_id(value: object) -> bool:
    return isinstance(value, str) and EVENT_ID_RE.match(value) is not None
