"""The VPC of one region (created or imported) and its endpoints; the construct is construct.py."""
