"""Studies: a manifest of fractions run through the single-case workflows on Dask (``igrt study run``)."""
