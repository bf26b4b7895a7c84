"""Reusable widgets of the full-screen app (one per module)."""
