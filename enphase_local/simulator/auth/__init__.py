"""Authentication as the simulated gateway and cloud do it: ES256 tokens, sessions, digest."""
