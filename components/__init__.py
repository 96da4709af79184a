"""Reusable UI pieces: filters, KPI cards, charts, map layers, tables."""
