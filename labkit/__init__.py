"""The lab kit: what starts, drives, breaks and measures the parts' stacks (the native runtime, the stack drivers,
chaos, fuzzing, slow clients, benchmarks, the evidence writers' helpers, the test fixtures). No service imports it."""
