"""Resilience: noticing agents that go off script (a deterministic detector over the grant log), and
the graded responses at the token endpoint."""
