"""The HTTP doors: the Jupyter server extension and the standalone aiohttp service."""
