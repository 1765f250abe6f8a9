"""naq's test harness: real NATS servers and clusters, subprocesses, and waits with deadlines.

Standard library only, so every per-package test environment can use it.
"""
