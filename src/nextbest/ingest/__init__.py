"""Ingestion: readers, the pipeline, dead letters."""
