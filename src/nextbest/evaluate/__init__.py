"""The maturity model measured: policies of stages 1 to 3 in the closed-loop simulator."""
