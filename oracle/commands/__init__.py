"""Command groups of the `tournament` CLI, one module per user or job."""
