"""The staking web app: a Flask Blueprint served inside the explorer (one app, no build step).

`create_blueprint(w3, deployment, submissions_url=...)` returns the blueprint: one HTML page,
one ES module of our own (static/stake.js), ethers v6's single-file UMD build (served from the
app's own static URL, copied from node_modules), and the small JSON endpoints the page needs
(deployment, ABIs, token capabilities, rounds, an account's models and stakes, file
validation with the protocol's own code, and a pass-through to the submission API so the page
never needs CORS). Transactions are built, simulated and signed in the browser by the user's
wallet; the server never holds a key. See docs/WEBAPP.md.
"""
from tournament.webapp.blueprint import create_blueprint

__all__ = ["create_blueprint"]
