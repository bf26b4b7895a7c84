"""The host images component: the construct (construct.py) and the image copier, the
custom resource's Lambda (handler.py).

This package imports no CDK: the copier's Lambda imports nothing of it but handler.py."""
