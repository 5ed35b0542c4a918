"""Structures and dose: structure sampling, DVH, and the dose impact of a residual setup error (issue 11)."""
