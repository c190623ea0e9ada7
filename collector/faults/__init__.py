"""Readings → fault states per (device, fault key) → tickets.

- ``catalogue``: every fault Fleetwatch knows (data).
- ``observe``: the pure function from one reading to the faults it shows.
- ``windows``: maintenance windows and business hours.
- ``engine``: the :class:`~collector.faults.engine.FaultEngine` sink and its state machines.

See docs/tickets.md for the rules in prose.
"""
