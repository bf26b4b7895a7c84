"""The CDK app of an aws host: one stack per (region, role), one construct per component.

Importing this package imports no CDK: ``hyper_tui.aws.infra.app`` does, when a synth needs it.
"""
