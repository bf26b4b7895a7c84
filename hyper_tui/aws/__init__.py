"""The aws host: names shared by infra/, the client, the scaler and the worker transport."""
