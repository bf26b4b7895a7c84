"""Discovery: what a client needs to find a deployed host (SSM parameters, stack outputs); the
construct is construct.py."""
