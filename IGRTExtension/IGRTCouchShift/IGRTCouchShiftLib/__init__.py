"""Helpers of the IGRTCouchShift module that are not Slicer's template classes."""
