"""Reliability and security tests: fuzzed bodies, hostile XML, endless replies, secret hygiene."""
