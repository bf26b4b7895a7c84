"""The jobs table (DynamoDB); the construct is construct.py."""
