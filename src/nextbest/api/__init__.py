"""HTTP API (FastAPI): thin routes over the capabilities, one error table."""
