"""The built-in ticket queue: the SQLite store (``store``), its REST API (``api``) and its pages
(``pages``). The fault engine that opens and resolves tickets is :mod:`collector.faults`; the
app wires them together in :mod:`collector.app`."""

DB_NAME = "tickets.sqlite3"
