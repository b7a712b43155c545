"""Inbound integrations: monitoring systems that open and resolve incidents."""
