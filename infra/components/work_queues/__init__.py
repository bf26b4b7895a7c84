"""The work queues (SQS) of every (queue, definition) pair and their dead-letter queues; the
construct is construct.py."""
