"""registration: see docs/ARCHITECTURE.md."""
