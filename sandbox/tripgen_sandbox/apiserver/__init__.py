"""The sandbox's API server (aiohttp)."""
