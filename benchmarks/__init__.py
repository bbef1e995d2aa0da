"""Benchmarks of the provider against what a user would do instead; run them with ``make bench``."""
