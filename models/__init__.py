"""Scorecards, risk models and simulators; no streamlit imports here."""
