"""Member profiles: incremental features per member."""
