"""couch: see docs/ARCHITECTURE.md."""
