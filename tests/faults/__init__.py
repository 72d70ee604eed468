"""Fault-injection suite: real redis-server, worker and scheduler processes, every job id
accounted for. ``pytest -m faults`` runs the short scenarios; ``python -m tests.faults
[--full] [--with-node] [--scenario NAME]`` prints the table."""
