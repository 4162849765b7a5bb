"""Reports on conversations and CES surveys: the figures, `tsunagu report`, /admin, demo data."""

from bot.reports.compute import compute_report, period_between, period_for_days
from bot.reports.model import Report

__all__ = ["Report", "compute_report", "period_between", "period_for_days"]
