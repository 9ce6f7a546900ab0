"""Code shared by the three parts: ids, settings, logging, HTTP helpers, the stock core and the native runtime."""
