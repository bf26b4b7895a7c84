"""Stacks: one per (region, role); they wire grants between components."""
