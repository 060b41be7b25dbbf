"""Simulated Adobe Analytics 2.0: ``POST /api/{globalCompanyId}/reports``."""
