"""Benchmarks that are commands, not tests: they print ratios measured side by side."""
