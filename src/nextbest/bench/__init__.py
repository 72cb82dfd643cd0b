"""Benchmarks: each measures nextbest beside a peer in the same run and prints a ratio."""
