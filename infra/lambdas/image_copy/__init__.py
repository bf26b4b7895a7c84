"""Copies a CDK-published image into the host's ECR repository under its name."""
