"""markers: see docs/ARCHITECTURE.md."""
