"""The menu and its initial stock, the same in all three parts."""
from types import MappingProxyType

INITIAL_STOCK = MappingProxyType(
    {"pizza": 100, "burger": 100, "salad": 100, "soda": 200, "coffee": 200}
)
ITEMS = tuple(INITIAL_STOCK)
MAX_QUANTITY = 100
