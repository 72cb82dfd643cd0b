"""Stage 2 predictions: churn, time to next purchase, future value, category propensity.

LightGBM on point-in-time feature snapshots, validated on a later snapshot than it was
trained on (time-based validation), probabilities calibrated on a snapshot in between.
"""
