"""Simulator of a loyalty program, for the demo and for evaluation."""
