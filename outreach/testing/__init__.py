"""Test doubles shared by the test suite, the demo and the benchmarks."""
