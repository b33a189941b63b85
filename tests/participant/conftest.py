"""The participant tests' shared world (a deployed tournament with a submission API and an
operator work folder) is defined once, in test_participant_client.py; other modules get it here."""
from tests.participant.test_participant_client import world  # noqa: F401
