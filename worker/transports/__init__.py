"""Transports of the worker agent: where claims come from and results go."""
