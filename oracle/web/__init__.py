"""Web services of the tournament: the operator's submission API (`submissions_api`) with its
content-addressed file store (`store`); the read-only explorer pages join them here later."""
