"""Uptime reports: availability per device and site, downtime incidents (issue 13)."""
