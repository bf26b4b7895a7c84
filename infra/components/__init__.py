"""Components: one Construct each, keyword-only typed parameters, resources as attributes."""
