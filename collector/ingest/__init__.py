"""Agent reports in: the HTTP endpoint, the report models, enrollment (issue 11)."""
