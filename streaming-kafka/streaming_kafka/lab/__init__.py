"""The part's lab: what starts, drives, breaks or measures its stack (the stack declaration, the client, the
scenarios and their evidence writers, benchmarks, chaos and failover, tools). No service imports it."""
