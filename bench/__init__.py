"""Benchmarks: each module measures one real code path beside a baseline timed in the same run."""
