"""Part C's evidence writers (`scenarios`, `chaos`, `failover`): each runs its scenarios against a running stack and writes the
evidence files docs/evidence.md describes. Not tests: the part's test modules assert the same scenario results."""
