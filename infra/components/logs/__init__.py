"""Log groups and their retention; the construct is construct.py."""
