"""Tests of the models and parsers, from hand-written bodies and from real captures."""
