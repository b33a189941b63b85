"""Collecting the m-of-n oracle signatures for a round's results: over HTTP from co-signers, or (dev/test only) from local keys.

In production the operator host holds no signer key. `HttpSignatureCollector` asks each
co-signer (one process per signer key, ideally one host and one owner each) to sign the
proposal; each co-signer recomputes the round itself and signs only what it computed
(protocol.md, "Results, signatures, settlement"). `LocalKeySigners` signs in-process with keys
given to this process: that is the v1 path, kept only for local development and tests.

The co-signer HTTP protocol ("tournament-sign/1")
=================================================
One call. All hex is lower-case with a `0x` prefix; addresses may be in any case (EIP-55
recommended); integers are JSON numbers except `scored_at_risk` (a uint128 in NMR wei, above
JavaScript's 2^53), which is a decimal string.

Request::

    POST {signer_url}/v1/sign
    Content-Type: application/json

    {
      "protocol": "tournament-sign/1",
      "chain_id": 31337,                      # the tournament's chain
      "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",   # EIP-712 verifyingContract
      "round_id": 7,                          # equals results.round_id
      "attempt": 0,                           # equals results.attempt
      "artifacts_url": "https://.../rounds/7/artifacts/" | null,  # where the operator published
                                              # the folder (manifest.json at its root); optional
      "artifacts_hash": "0x<64 hex>",         # equals results.artifacts_hash
      "results": {                            # the EIP-712 `Results` struct, field for field
        "round_id": 7,
        "attempt": 0,
        "results_root": "0x<64 hex>",
        "leaf_count": 55,
        "scored_at_risk": "123400000000000000000",
        "artifacts_hash": "0x<64 hex>",
        "signer_set_version": 1
      },
      "digest": "0x<64 hex>"                  # EIP-712 digest of `results` in the contract's
                                              # domain; informational: a co-signer computes
                                              # its own and never signs a digest it was handed
    }

Answers (the body is always JSON):

* ``200 {"signature": "0x<130 hex>", "signer": "0x<address>"}``: the 65-byte ``r || s || v``
  signature (v in {27, 28}, low s) of the EIP-712 digest of ``results`` in the domain
  (name and version from the contract's ``eip712Domain()``, ``chain_id``, ``contract``),
  by ``signer``, a member of the current signer set. The collector checks both: a
  signature that does not recover to ``signer``, or a signer outside the set, is reported
  as a bad answer and not used.
* ``422 {"refused": "<one line: the first mismatch>"}``: the co-signer recomputed the
  round and will not sign these results (e.g. "results_root 0xab.. differs from mine
  0xcd.. (targets differ: 3 ids)", "already signed another root for round 7 attempt 0").
  Final: not retried. Any answer whose JSON has a ``refused`` key is a refusal, whatever
  its status code.
* ``429`` or ``5xx`` ``{"error": "..."}`` (e.g. still recomputing, busy, chain unreachable):
  temporary; the collector retries with backoff (``Retry-After`` seconds honoured up to the
  backoff cap).
* ``400 {"error": "..."}`` (and any other 4xx): the request is malformed for this co-signer
  (wrong chain or contract, unknown protocol): final, reported with its ``error``.

Collector behaviour: requests go to the first `threshold` URLs at once; each failure
(down after its retries, timed out, refused, bad answer) starts the next URL, until
`threshold` valid signatures from distinct current signers are in hand, or the URLs run
out. It stops asking at the threshold (unasked URLs are never called; requests already
sent are left to finish and ignored). Signatures are returned sorted by ascending signer
address, the order `proposeResults` requires. Every signer that was down or refused is
reported with its reason: in the log, in `CollectionReport`, and in the error when the
threshold is not reached.

`parse_sign_request` and `sign_answer` / `refusal_answer` are the shared codec: the
co-signer service parses requests and writes answers with them.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

import requests
from eth_utils import is_address, to_checksum_address

from tournament.operator.common import OperatorError
from tournament.protocol.signing import Domain, Results, SigningError, recover_signer, results_digest, sign_results

log = logging.getLogger(__name__)

__all__ = ["PROTOCOL", "CollectionReport", "HttpSignatureCollector", "LocalKeySigners", "SignRequest",
           "SignatureCollectionError", "SignatureSource", "SignerOutcome", "SignProtocolError",
           "parse_sign_request", "refusal_answer", "sign_answer"]

PROTOCOL = "tournament-sign/1"
SIGN_PATH = "/v1/sign"


class SignProtocolError(ValueError):
    """A sign request or answer that does not follow tournament-sign/1 (the message says which field)."""


class SignatureCollectionError(OperatorError):
    """Fewer than `threshold` signatures could be collected; `report` says what each signer answered."""

    def __init__(self, message: str, report: CollectionReport):
        super().__init__(message)
        self.report = report


# ------------------------------------------------------------------ the request and its codec

def _hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


@dataclass(frozen=True)
class SignRequest:
    """What the operator asks every co-signer to sign: these results in this contract's domain."""
    domain: Domain
    results: Results
    artifacts_url: Optional[str] = None

    @property
    def digest(self) -> bytes:
        return results_digest(self.domain, self.results)

    def to_json(self) -> dict:
        r = self.results
        return {
            "protocol": PROTOCOL,
            "chain_id": self.domain.chain_id,
            "contract": self.domain.verifying_contract,
            "round_id": r.round_id,
            "attempt": r.attempt,
            "artifacts_url": self.artifacts_url,
            "artifacts_hash": _hex32(r.artifacts_hash),
            "results": {
                "round_id": r.round_id,
                "attempt": r.attempt,
                "results_root": _hex32(r.results_root),
                "leaf_count": r.leaf_count,
                "scored_at_risk": str(r.scored_at_risk),
                "artifacts_hash": _hex32(r.artifacts_hash),
                "signer_set_version": r.signer_set_version,
            },
            "digest": _hex32(self.digest),
        }


def _field(document: dict, name: str, kind: type, where: str = "") -> Any:
    if not isinstance(document, dict) or name not in document:
        raise SignProtocolError(f"{where}{name}: missing")
    value = document[name]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise SignProtocolError(f"{where}{name}: must be a JSON integer, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise SignProtocolError(f"{where}{name}: must be a string, got {value!r}")
    return value


def _bytes32_field(document: dict, name: str, where: str = "") -> bytes:
    text = _field(document, name, str, where)
    if len(text) != 66 or not text.startswith("0x"):
        raise SignProtocolError(f"{where}{name}: must be 0x and 64 hex digits, got {text!r}")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise SignProtocolError(f"{where}{name}: must be 0x and 64 hex digits, got {text!r}") from None


def parse_sign_request(body: Any, domain_name: str, domain_version: str) -> SignRequest:
    """A tournament-sign/1 request body -> SignRequest; every inconsistency is a SignProtocolError.

    `domain_name` / `domain_version` are the co-signer's own (from the contract it watches):
    the request does not carry them.
    """
    if not isinstance(body, dict):
        raise SignProtocolError("the request body must be a JSON object")
    if body.get("protocol") != PROTOCOL:
        raise SignProtocolError(f"protocol: expected {PROTOCOL!r}, got {body.get('protocol')!r}")
    contract = _field(body, "contract", str)
    if not is_address(contract):
        raise SignProtocolError(f"contract: not an address: {contract!r}")
    results_json = _field(body, "results", dict)
    where = "results."
    scored_text = _field(results_json, "scored_at_risk", str, where)
    if not scored_text.isdigit():
        raise SignProtocolError(f"results.scored_at_risk: must be a decimal string, got {scored_text!r}")
    values = dict(round_id=_field(results_json, "round_id", int, where),
                  attempt=_field(results_json, "attempt", int, where),
                  results_root=_bytes32_field(results_json, "results_root", where),
                  leaf_count=_field(results_json, "leaf_count", int, where),
                  scored_at_risk=int(scored_text),
                  artifacts_hash=_bytes32_field(results_json, "artifacts_hash", where),
                  signer_set_version=_field(results_json, "signer_set_version", int, where))
    try:
        domain = Domain(chain_id=_field(body, "chain_id", int), verifying_contract=to_checksum_address(contract),
                        name=domain_name, version=domain_version)
        results = Results(**values)
    except SigningError as error:
        raise SignProtocolError(str(error)) from None
    for name in ("round_id", "attempt"):
        if _field(body, name, int) != values[name]:
            raise SignProtocolError(f"{name}: {body[name]} differs from results.{name} {values[name]}")
    if _bytes32_field(body, "artifacts_hash") != results.artifacts_hash:
        raise SignProtocolError("artifacts_hash differs from results.artifacts_hash")
    url = body.get("artifacts_url")
    if url is not None and not isinstance(url, str):
        raise SignProtocolError(f"artifacts_url: must be a string or null, got {url!r}")
    return SignRequest(domain, results, url)


def sign_answer(signature: bytes, signer: str) -> dict:
    """The 200 body of a co-signer that signs."""
    return {"signature": "0x" + bytes(signature).hex(), "signer": to_checksum_address(signer)}


def refusal_answer(reason: str) -> dict:
    """The 422 body of a co-signer that refuses (one line: the first mismatch it found)."""
    return {"refused": " ".join(str(reason).split())}


# ------------------------------------------------------------------ sources of signatures

@dataclass
class SignerOutcome:
    """What one signer (a URL, or a local key) answered."""
    who: str
    status: str                         # signed | refused | down | bad-answer | not-a-signer | duplicate
    reason: str = ""
    signer: Optional[str] = None
    signature: Optional[bytes] = None
    seconds: float = 0.0

    def line(self) -> str:
        detail = f": {self.reason}" if self.reason else ""
        by = f" ({self.signer})" if self.signer and self.status == "signed" else ""
        return f"{self.who}: {self.status}{by}{detail}"


@dataclass
class CollectionReport:
    threshold: int
    outcomes: list[SignerOutcome] = field(default_factory=list)

    @property
    def signed(self) -> list[SignerOutcome]:
        return [o for o in self.outcomes if o.status == "signed"]

    @property
    def failures(self) -> list[SignerOutcome]:
        return [o for o in self.outcomes if o.status != "signed"]

    def signatures(self) -> list[bytes]:
        """The collected signatures in ascending signer order (what proposeResults requires)."""
        chosen = sorted(self.signed, key=lambda o: int(o.signer or "0x0", 16))[:self.threshold]
        return [o.signature for o in chosen if o.signature is not None]

    def summary(self) -> str:
        return "; ".join(o.line() for o in self.outcomes)


class SignatureSource(Protocol):
    def collect(self, request: SignRequest, signers: Sequence[str], threshold: int) -> CollectionReport:
        """At least `threshold` signatures of the request by distinct members of `signers`, or raise."""


def _fail(report: CollectionReport, what: str) -> SignatureCollectionError:
    got = len(report.signed)
    details = "; ".join(o.line() for o in report.failures) or "no signer answered"
    return SignatureCollectionError(
        f"{what}: {got} of the {report.threshold} signatures needed ({details})", report)


class LocalKeySigners:
    """DEV/TEST ONLY: signs with private keys held by this process (v1's path).

    Whoever runs this holds the m-of-n, which defeats the signer set; production uses
    `HttpSignatureCollector` with co-signers that each hold one key.
    """

    def __init__(self, accounts: Sequence[Any]):
        self.accounts = list(accounts)

    def collect(self, request: SignRequest, signers: Sequence[str], threshold: int) -> CollectionReport:
        current = {int(a, 16) for a in signers}
        usable = sorted({int(a.address, 16): a for a in self.accounts if int(a.address, 16) in current}.items())
        report = CollectionReport(threshold)
        if len(usable) < threshold:
            raise SignatureCollectionError(
                f"{len(usable)} of the given signer keys are in the current signer set (version "
                f"{request.results.signer_set_version}, threshold {threshold}); give at least {threshold}", report)
        chosen = [account for _, account in usable[:threshold]]
        for account, signature in zip(sorted(chosen, key=lambda a: int(a.address, 16)),
                                      sign_results(request.domain, request.results, chosen)):
            report.outcomes.append(SignerOutcome(f"local key {account.address}", "signed", signer=account.address,
                                                 signature=signature))
        return report


class HttpSignatureCollector:
    """Asks co-signers over HTTP (tournament-sign/1, see the module docstring) until `threshold` signed.

    `timeout_s` bounds each HTTP request (connect and read: a co-signer recomputes the round
    before it answers, so give it minutes on large rounds); `attempts` is how many times a
    co-signer that is down, slow or busy (connection error, timeout, 429, 5xx) is tried, with
    exponential backoff from `base_delay_s` up to `max_delay_s`.
    """

    def __init__(self, urls: Sequence[str], *, timeout_s: float = 300.0, attempts: int = 3,
                 base_delay_s: float = 1.0, max_delay_s: float = 30.0,
                 session_factory: Callable[[], requests.Session] = requests.Session,
                 sleep: Callable[[float], None] = time.sleep):
        unique = list(dict.fromkeys(u.rstrip("/") for u in urls))
        if not unique:
            raise OperatorError("no co-signer URL given (--signer URL, repeatable)")
        for url in unique:
            if not url.startswith(("http://", "https://")):
                raise OperatorError(f"co-signer {url!r}: not an http(s) URL")
        self.urls = unique
        self.timeout_s = timeout_s
        self.attempts = max(1, attempts)
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.session_factory = session_factory
        self.sleep = sleep

    # -------------------------------------------------------------- one co-signer
    def ask(self, url: str, request: SignRequest, current: set[int]) -> SignerOutcome:
        """One co-signer's final answer, after its retries (never raises)."""
        started = time.monotonic()
        outcome = self._ask(url, request, current)
        outcome.seconds = time.monotonic() - started
        return outcome

    def _ask(self, url: str, request: SignRequest, current: set[int]) -> SignerOutcome:
        body = request.to_json()
        endpoint = url + SIGN_PATH
        session = self.session_factory()
        error = "not asked"
        try:
            for attempt in range(1, self.attempts + 1):
                retry_after: Optional[float] = None
                try:
                    response = session.post(endpoint, json=body, timeout=self.timeout_s)
                except requests.Timeout:
                    error = f"no answer within {self.timeout_s:g}s"
                except requests.ConnectionError as exc:
                    error = f"unreachable ({_short_exception(exc)})"
                else:
                    answer = _json_or_none(response)
                    if isinstance(answer, dict) and "refused" in answer:
                        return SignerOutcome(url, "refused", " ".join(str(answer["refused"]).split()) or "no reason")
                    if response.status_code == 200:
                        return self._check_answer(url, answer, request, current)
                    detail = answer.get("error") if isinstance(answer, dict) else None
                    error = f"HTTP {response.status_code}" + (f" ({detail})" if detail else "")
                    if response.status_code != 429 and response.status_code < 500:
                        return SignerOutcome(url, "bad-answer", error)
                    retry_after = _retry_after(response)
                if attempt < self.attempts:
                    delay = min(self.max_delay_s, retry_after if retry_after is not None
                                else self.base_delay_s * 2 ** (attempt - 1))
                    log.warning("co-signer %s: %s; retry %d/%d in %.1fs", url, error, attempt,
                                self.attempts - 1, delay)
                    self.sleep(delay)
        finally:
            session.close()
        return SignerOutcome(url, "down", f"{error} (after {self.attempts} attempt(s))")

    @staticmethod
    def _check_answer(url: str, answer: Any, request: SignRequest, current: set[int]) -> SignerOutcome:
        if not isinstance(answer, dict) or not isinstance(answer.get("signature"), str) \
                or not isinstance(answer.get("signer"), str):
            return SignerOutcome(url, "bad-answer", "200 without {signature, signer} JSON")
        claimed = answer["signer"]
        if not is_address(claimed):
            return SignerOutcome(url, "bad-answer", f"signer {claimed!r} is not an address")
        text = answer["signature"]
        try:
            signature = bytes.fromhex(text[2:] if text.startswith("0x") else text)
            recovered = recover_signer(request.domain, request.results, signature)
        except (ValueError, SigningError) as exc:
            return SignerOutcome(url, "bad-answer", f"unusable signature ({exc})")
        if int(recovered, 16) != int(claimed, 16):
            return SignerOutcome(url, "bad-answer", f"the signature recovers to {recovered}, not to the claimed "
                                                    f"signer {to_checksum_address(claimed)}")
        if int(recovered, 16) not in current:
            return SignerOutcome(url, "not-a-signer", f"{recovered} is not in the current signer set "
                                                      f"(version {request.results.signer_set_version})",
                                 signer=recovered)
        return SignerOutcome(url, "signed", signer=recovered, signature=signature)

    # -------------------------------------------------------------- all co-signers
    def collect(self, request: SignRequest, signers: Sequence[str], threshold: int) -> CollectionReport:
        current = {int(a, 16) for a in signers}
        report = CollectionReport(threshold)
        waiting = list(self.urls)
        seen: set[int] = set()
        pool = ThreadPoolExecutor(max_workers=max(1, min(threshold, len(self.urls))),
                                  thread_name_prefix="cosigner")
        running: dict[Future, str] = {}
        try:
            while len(report.signed) < threshold and (waiting or running):
                while waiting and len(running) < threshold - len(report.signed):
                    url = waiting.pop(0)
                    log.info("asking co-signer %s to sign round %s attempt %s", url, request.results.round_id,
                             request.results.attempt)
                    running[pool.submit(self.ask, url, request, current)] = url
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    running.pop(future)
                    outcome = future.result()
                    if outcome.status == "signed" and int(outcome.signer or "0x0", 16) in seen:
                        outcome = SignerOutcome(outcome.who, "duplicate",
                                                f"{outcome.signer} already signed through another URL",
                                                signer=outcome.signer)
                    if outcome.status == "signed":
                        seen.add(int(outcome.signer or "0x0", 16))
                        log.info("co-signer %s signed as %s in %.1fs", outcome.who, outcome.signer,
                                 outcome.seconds)
                    else:
                        log.warning("co-signer %s", outcome.line())
                    report.outcomes.append(outcome)
        finally:
            # Stop at the threshold: never call the URLs not yet asked; requests in flight end on their own.
            pool.shutdown(wait=False, cancel_futures=True)
        if len(report.signed) < threshold:
            raise _fail(report, f"round {request.results.round_id} attempt {request.results.attempt}")
        return report


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(response: requests.Response) -> Optional[float]:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _short_exception(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    return type(exc).__name__
