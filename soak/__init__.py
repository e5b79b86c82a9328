"""Soak runs: long reliability checks with a figure in their output (make soak)."""
