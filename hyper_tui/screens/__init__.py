"""Screens and modals of the full-screen app (one per module)."""
