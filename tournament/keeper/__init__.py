"""The keeper: permissionless settlement of accepted rounds and refunds of what is refundable."""
