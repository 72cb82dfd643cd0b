"""Stage 3: next-best-action. Eligibility, contact policy, scoring, arbitration, learning.

So far: the safe expression language eligibility rules are written in (``expressions``).
"""
