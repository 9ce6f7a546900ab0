"""The contract's identifiers: order ids sortable by creation time, event ids for idempotency."""
import functools
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
    """`n` event ids as `generate_event_id` makes them (of `unix_ms`, default now), with one clock read, one urandom
    call and one integer operation for all: n random 16-byte blocks, each given the time in its first 48 bits, the
    version and the variant (74 random bits are left in each)."""
    if n <= 0:
        return []
    unix_ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    keep, force, ones = _uuid7_masks(n)
    blocks = (int.from_bytes(os.urandom(16 * n)) & keep) | force | (((unix_ms & 0xFFFF_FFFF_FFFF) << 80) * ones)
    return blocks.to_bytes(16 * n).hex(" ", 16).split(" ")  # a separator every 16 bytes: split in one call


@functools.cache
def _uuid7_masks(n: int) -> tuple[int, int, int]:
    """For n concatenated 16-byte blocks: the random bits each keeps, the version 7 and variant 10 bits each gets,
    and a 1 at each block's lowest bit (times a 128-bit value: that value in every block, no carry between them)."""
    keep, force = bytearray(b"\xff" * 16), bytearray(16)
    keep[0:6] = bytes(6)  # the time
    keep[6], force[6] = 0x0F, 0x70  # version 7
    keep[8], force[8] = 0x3F, 0x80  # variant 10
    one = bytes(15) + b"\x01"
    return (int.from_bytes(bytes(keep) * n), int.from_bytes(bytes(force) * n), int.from_bytes(one * n))


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
