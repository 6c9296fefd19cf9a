"""Benchmarks: ``bench/run`` (hot paths against baselines) and ``bench.replicas``."""
