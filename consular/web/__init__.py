"""Layout, static assets and shared view helpers."""
