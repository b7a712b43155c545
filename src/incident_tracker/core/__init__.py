"""Core: what every domain builds on and no domain owns.

The database handle and column types, shared schema fields, keyset pages, the domain
exceptions, the in-transaction event hook and settings. Core imports no domain; a domain
imports core, and another domain only through that domain's service functions
(`[tool.importlinter]` in pyproject.toml keeps it so).
"""
