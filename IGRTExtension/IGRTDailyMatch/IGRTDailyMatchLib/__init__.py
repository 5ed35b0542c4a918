"""Helpers of the IGRTDailyMatch module that are not Slicer's template classes."""
