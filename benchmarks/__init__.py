"""Benchmarks of enphase_local against pyenphase and raw aiohttp; run with ``make bench``.

Each script is run as a module (``python -m benchmarks.per_poll --help``), prints a table and
a one-line summary of ratios against baselines measured in the same run, and writes JSON with
``--json FILE``.
"""
