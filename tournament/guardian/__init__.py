"""The guardian: vetoes wrong results inside their challenge window, pauses (GUARDIAN_ROLE's key).

`actions` holds the guardian's transactions; the watchtower (issue 14) will live beside it.
"""
