"""Scoped IAM policies for the people and machines around a host (stack outputs)."""
