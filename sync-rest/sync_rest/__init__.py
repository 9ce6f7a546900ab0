"""Part A: synchronous REST. Three Flask services calling each other over HTTP, and the scripts that drive them."""
