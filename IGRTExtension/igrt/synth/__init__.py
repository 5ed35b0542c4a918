"""Known-transform test cases (AAPM TG-132): a planning CT, a daily CBCT of the patient moved by a known
rigid transform, and that transform — the ground truth of the accuracy benchmark, the demo and the tests.

- ``phantom``: a drawn pelvis HU phantom (LPS, any grid, seconds).
- ``tg119``: the real TG-119 phantom CT from ../shared/data, with its structures.
- ``cbct``: cone-beam CT simulation with RTK (Joseph projection, scatter, noise, truncated FDK, HU error).
- ``recipes`` / ``cases``: named, deterministic, cached cases (``get_case``, ``demo_case``, ``tiny_case``).
"""
