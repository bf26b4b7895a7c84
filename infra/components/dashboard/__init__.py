"""The host's CloudWatch dashboard; the construct is construct.py."""
