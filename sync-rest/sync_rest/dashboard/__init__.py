"""Part A's live dashboard (port 6003): orders by outcome, the circuit breaker and the inventory's latency.
`python -m sync_rest.dashboard`."""
