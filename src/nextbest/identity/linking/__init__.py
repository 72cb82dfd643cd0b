"""Probabilistic record linkage (Fellegi–Sunter, via Splink on DuckDB), configured from the data."""
