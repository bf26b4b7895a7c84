"""The worker agent: one loop (agent.py), two transports (local SQLite, aws SQS + DynamoDB)."""
