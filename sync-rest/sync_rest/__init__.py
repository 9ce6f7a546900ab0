"""Part A: synchronous REST. Three Flask services calling each other over HTTP; `sync_rest.lab` drives them."""
