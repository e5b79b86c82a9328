"""Operations: liveness and readiness probes, Prometheus metrics, the worker-down banner, backups."""
