"""Lambda runtime code deployed by infra/ (standard library + boto3 only)."""
