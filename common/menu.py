"""The menu and its initial stock: the same items in all three parts; Part C's per-item stock is a setting."""
from types import MappingProxyType

# Parts A and B start with these units (the contract's 100/200; `fries` is on the original lab's menu).
INITIAL_STOCK = MappingProxyType(
    {"pizza": 100, "burger": 100, "salad": 100, "soda": 200, "coffee": 200, "fries": 100}
)
ITEMS = tuple(INITIAL_STOCK)
MAX_QUANTITY = 100


def uniform_stock(units: int) -> MappingProxyType:
    """Every item of the menu with `units` in stock (Part C's large initial stock, KAFKA_INITIAL_STOCK)."""
    return MappingProxyType(dict.fromkeys(ITEMS, units))
