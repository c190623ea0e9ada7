"""Benchmarks: speed figures that are reported (docs/benchmarks.md), never asserted in tests."""
