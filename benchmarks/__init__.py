"""serialsync's benchmarks (issue 6): latency, throughput and scale.

Run from the repository root with serialsync importable::

    python -m benchmarks                 # everything; a few minutes
    python -m benchmarks --quick         # small groups, few repetitions (the smoke test)
    python -m benchmarks --only sync,scan --json out.json

Each figure is printed with a floor measured in the same run and the ratio
between them, because the machine may be shared and absolute times drift.
"""
