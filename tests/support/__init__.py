"""Helpers shared by tests and benchmarks (not part of the p2o package)."""
