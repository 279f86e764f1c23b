"""The analysis: the pipeline over many files, aggregation, filters and comparison.

Also live follow, lookups, the Dask cluster backend and the benchmark.
"""
