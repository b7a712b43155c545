"""Incident Tracker: declare, run and close major incidents."""

from incident_tracker.app import create_app

__all__ = ["create_app"]
