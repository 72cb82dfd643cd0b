"""Storage: engine, tables and migrations shared by every capability."""
