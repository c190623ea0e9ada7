"""Supplies: forecasts of days to empty, reorder points, stock on hand, page-count reports (issue 12)."""
