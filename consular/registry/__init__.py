"""The registry: people who receive safety alerts (citizens abroad, families, foreign residents)."""
