"""The HTTP contract of /api/v1, without a web framework: parameters in, replies out."""
