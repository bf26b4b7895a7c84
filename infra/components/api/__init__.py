"""The submit and query API Lambda."""
