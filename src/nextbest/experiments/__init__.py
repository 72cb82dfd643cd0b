"""Experiments: assignment by hashing, lift with intervals, and off-policy evaluation."""
