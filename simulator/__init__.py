"""A loopback simulator of seven LLM providers' HTTP APIs, for tests and benchmarks.

Run it with ``python -m simulator --host 127.0.0.1 --port 0`` (prints ``SIMULATOR_PORT=<n>``), or
from Python with ``simulator.harness.SimulatorProcess``. Wire formats follow
``../shared/docs/providers.md``; URL conventions are in ``simulator.routes``, the control API in
``simulator.control``, faults in ``simulator.faults`` and the deterministic content rules in
``simulator.content``.
"""
