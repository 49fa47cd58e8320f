"""Storage: any pyarrow filesystem under a lake root, paths that cannot leave it."""
