"""Tests of power derivation, the sinks and the report command."""
