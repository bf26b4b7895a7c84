"""AWS Batch compute of one region: clusters (compute environments, job queue) and job
definitions; the construct is construct.py."""
