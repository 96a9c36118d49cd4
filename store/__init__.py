"""Persistence: the PostgreSQL read model and the records the API and activities keep."""
