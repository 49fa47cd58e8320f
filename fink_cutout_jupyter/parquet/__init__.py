"""Parquet: the one-page reader (page headers, values of one page, nested columns)."""
