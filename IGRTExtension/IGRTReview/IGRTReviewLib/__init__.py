"""Helpers of the IGRTReview module (no Qt)."""
