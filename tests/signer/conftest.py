"""Fixtures of the co-signer tests (the world builder is in signer_world.py)."""
from signer_world import world  # noqa: F401  (pytest fixture)
