"""Helpers of the IGRTFiducials module (no Qt)."""
