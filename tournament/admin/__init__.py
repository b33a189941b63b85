"""The admin's and the guardian's calls: signer rotation, roles, configuration, reward pool,
pause, surplus; built as plain calls that can be sent with a key or printed for a multisig."""
