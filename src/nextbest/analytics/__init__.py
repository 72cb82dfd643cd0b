"""Describe and predict: RFM, buy-till-you-die CLV, churn, recommendations, micro-segments.

Pure model code (``rfm``, ``btyd``, ``microsegments``, ``recommend``, ``metrics``) takes arrays
and returns arrays; the feature pipeline and the scoring job are the adapters that read
the event history and the stores.
"""
