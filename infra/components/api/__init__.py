"""The submit and query API component: the construct (construct.py) and the API's Lambda
handler (handler.py).

This package imports no CDK: the Lambda imports it on its way to the handler."""
