"""Peering between the main region's VPC and the hubs', and values that cross regions; the construct is construct.py."""
