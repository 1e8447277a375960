"""The fault soak, short: invariants, every fault recovered, and no secret in any output."""
