"""Helpers of the IGRTDoseImpact module (no Qt)."""
