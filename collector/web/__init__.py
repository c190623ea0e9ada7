"""The collector's own web pages: the page shell (``shell``), the fleet and device pages with
the device API (``fleet``), and the JSON error middleware of ``/api/`` (``errors``). Ticket pages
live with the tickets (:mod:`collector.tickets.pages`)."""
