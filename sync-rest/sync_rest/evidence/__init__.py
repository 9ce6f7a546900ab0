"""Part A's evidence writers (`scenarios`): each runs its scenarios against a running stack and writes the
evidence files the README quotes. Not tests: the part's test modules assert the same scenario results."""
