"""Async, typed client for Enphase IQ Gateways over their local API."""
