"""The scaler component: its construct (construct.py) and its Lambda handler (handler.py).

This package imports no CDK: the Lambda imports it on its way to the handler."""
