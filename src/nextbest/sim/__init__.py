"""Simulator of a loyalty program, for the demo and for evaluation.

``simulate_to_dir`` writes a batch history; ``Simulation`` is the closed loop that a
decision engine can drive day by day with treatments.
"""

from nextbest.sim.closed_loop import Simulation, Treatment
from nextbest.sim.config import SimConfig
from nextbest.sim.history import SimSummary, simulate_to_dir

__all__ = ["SimConfig", "SimSummary", "Simulation", "Treatment", "simulate_to_dir"]
