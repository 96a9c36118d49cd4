"""Glue shared by the API, the worker and the command line: settings, logging, Temporal
connection and the embedded development stack."""
