"""The web UI: server-rendered pages for responders, on the same services as the API."""
