// The staking page: connect a wallet (EIP-1193, discovered through EIP-6963), then deposit,
// create models, upload predictions and stake on their hash, unstake, withdraw and refund.
//
// Every transaction is simulated (eth_call, then eth_estimateGas) before the wallet is asked
// to sign, so a revert is explained in one line first; its custom error is decoded with the
// ABIs the server ships (GET api/config). The server holds no key: it lists rounds, models and
// stakes, validates files with the protocol's own Python code (the CLI's words), and passes
// uploads through to the submission API. ethers v6 comes from the app's own static URL as a
// UMD build (window.ethers); there is no bundler and no framework.

const { ethers } = window;
const API = document.body.dataset.api;            // e.g. "/stake/api"
const NMR_WEI = 10n ** 18n;
const PHASES = ["None", "Open", "Closed", "Resolvable", "Proposed", "Accepted", "Refunding", "Settled"];

const state = {
  config: null,        // GET api/config
  wallets: new Map(),  // EIP-6963 uuid -> {info, provider}
  eip1193: null,       // the connected wallet
  provider: null,      // ethers.BrowserProvider over it
  signer: null,
  address: null,
  tournament: null,    // ethers.Contract (reads through the wallet's provider)
  nmr: null,
  rounds: [],
  account: null,
  busy: false,
};

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ formatting

/** Wei as NMR with `digits` decimals, rounded half up, thousands separated (as the explorer). */
export function formatNmr(wei, digits = 4) {
  const value = BigInt(wei);
  const sign = value < 0n ? "-" : "";
  const abs = value < 0n ? -value : value;
  const scale = 10n ** BigInt(digits);
  const scaled = (abs * scale + NMR_WEI / 2n) / NMR_WEI;
  const whole = (scaled / scale).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const frac = (scaled % scale).toString().padStart(digits, "0");
  return digits ? `${sign}${whole}.${frac}` : `${sign}${whole}`;
}

export function utc(seconds) {
  if (!seconds) return "-";
  return new Date(Number(seconds) * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

const short = (hex, keep = 10) => (hex && hex.length > keep + 4 ? `${hex.slice(0, keep)}…${hex.slice(-4)}` : hex);

/** "12.5" -> wei; one clear line for anything else. */
function parseNmr(text, what) {
  const clean = String(text || "").trim().replace(/,/g, "");
  if (!/^\d+(\.\d{1,18})?$/.test(clean)) {
    throw new UserError(`${what}: enter an amount of NMR such as 12.5 (got "${text || ""}")`);
  }
  const wei = ethers.parseUnits(clean, 18);
  if (wei === 0n) throw new UserError(`${what}: the amount must be more than 0`);
  return wei;
}

/** "1.5" -> 150 hundredths (the contract's multiplier unit). */
function parseMultiplier(text, what) {
  const clean = String(text || "").trim();
  if (!/^\d+(\.\d{1,2})?$/.test(clean)) throw new UserError(`${what}: enter a multiplier such as 1 or 0.5`);
  return Math.round(Number(clean) * 100);
}

class UserError extends Error {}

// ------------------------------------------------------------------ status and activity

function setStatus(text, kind = "") {
  const line = $("status");
  line.textContent = text;
  line.className = `status ${kind}`;
}

/** One line in the activity list per action, updated through its states. */
function activity(label) {
  const item = document.createElement("li");
  $("activity").prepend(item);
  const entry = {
    item,
    set(stateName, text, link) {
      item.className = `state-${stateName}`;
      item.dataset.state = stateName;
      item.textContent = `${label}: ${text}`;
      if (link) {
        const a = document.createElement("a");
        a.href = `/tx/${link}`;
        a.textContent = short(link, 12);
        a.className = "mono";
        item.append(" ", a);
      }
    },
  };
  entry.set("simulating", "checking…");
  return entry;
}

// ------------------------------------------------------------------ revert explanations

/** The revert data (0x + selector + args) inside whatever error object a wallet or ethers threw. */
export function findRevertData(error, depth = 0) {
  if (!error || depth > 6) return null;
  if (typeof error === "string") return /^0x[0-9a-fA-F]{8,}$/.test(error) ? error : null;
  if (typeof error !== "object") return null;
  for (const key of ["data", "error", "info", "originalError", "cause", "payload", "value"]) {
    if (key in error) {
      const found = findRevertData(error[key], depth + 1);
      if (found) return found;
    }
  }
  return null;
}

function decodeError(data) {
  for (const abi of [state.config.abi.tournament, state.config.abi.nmr]) {
    try {
      const parsed = new ethers.Interface(abi).parseError(data);
      if (parsed) return parsed;
    } catch (_) { /* not this contract's error */ }
  }
  return null;
}

const nmrOf = (value) => `${formatNmr(value)} NMR`;

// The CLI's sentences (tournament/participant/client.py explain_revert), with page wording for what to do.
const EXPLAIN = {
  RoundNotOpen: (a) => `round ${a.roundId} closed at ${utc(a.closeTime)}; stakes are locked until resolution`,
  UnknownRound: (a) => `round ${a.roundId} does not exist; pick an open round`,
  InsufficientBalance: (a) => `your tournament wallet holds ${nmrOf(a.balance)} but ${nmrOf(a.needed)} is needed; deposit more first`,
  UnknownModel: (a) => `model ${a.modelId} does not exist; create it first`,
  NotModelOwner: (a) => `model ${a.modelId} belongs to ${a.owner}, not to you (${a.caller}); use one of your own models`,
  InvalidModelName: (a) => `a model name must be 1 to ${a.maxLength} bytes, got ${a.length}`,
  MultiplierOutOfBounds: (a) => `${a.which} multiplier ${Number(a.value) / 100}x is outside this round's bounds ${Number(a.min) / 100}x to ${Number(a.max) / 100}x; choose one inside`,
  StakeBelowMinimum: (a) => `the stake would be ${nmrOf(a.total)}, below the round's minimum of ${nmrOf(a.minStake)}; stake more (or unstake everything)`,
  InsufficientStake: (a) => `you have ${nmrOf(a.staked)} staked and cannot unstake ${nmrOf(a.requested)}`,
  NoStake: (a) => `model ${a.modelId} has no stake in round ${a.roundId}`,
  ZeroAmount: () => "the amount must be more than 0",
  EmptySubmissionHash: () => "a stake needs the hash of an uploaded predictions file",
  EnforcedPause: () => "the tournament is paused; only withdrawals of free balance work until it resumes",
  RefundNotAvailable: (a) => `round ${a.roundId} is ${PHASES[Number(a.phase)] || a.phase}, not refundable${Number(a.refundableAt) ? ` before ${utc(a.refundableAt)}` : ""}`,
  ERC20InsufficientBalance: (a) => `your NMR token balance is ${nmrOf(a.balance)}, ${nmrOf(a.needed)} needed; get NMR first`,
  ERC20InsufficientAllowance: (a) => `the tournament may move ${nmrOf(a.allowance)} of yours, ${nmrOf(a.needed)} needed; deposit again (it approves)`,
  ERC2612ExpiredSignature: (a) => `the permit expired at ${utc(a.deadline)}; deposit again to sign a new one`,
  ERC2612InvalidSigner: () => "the permit was not signed by this address; deposit again (or use approve)",
};

/** One readable line for any failure of a call, a simulation, a signature or a send. */
export function explainError(error) {
  if (error instanceof UserError) return error.message;
  const code = error?.code ?? error?.info?.error?.code ?? error?.error?.code;
  if (code === 4001 || code === "ACTION_REJECTED") return "you declined in your wallet; nothing was sent";
  const data = state.config ? findRevertData(error) : null;
  if (data) {
    const parsed = decodeError(data);
    if (parsed) {
      const args = {};
      parsed.fragment.inputs.forEach((input, i) => { args[input.name] = parsed.args[i]; });
      if (EXPLAIN[parsed.name]) return EXPLAIN[parsed.name](args);
      const shown = parsed.fragment.inputs.map((input, i) => `${input.name}=${parsed.args[i]}`).join(", ");
      return `the contract refused it: ${parsed.name}(${shown})`;
    }
    if (data.startsWith("0x08c379a0")) {
      return `the contract refused it: ${ethers.AbiCoder.defaultAbiCoder().decode(["string"], "0x" + data.slice(10))[0]}`;
    }
    return `the contract refused it with unknown error data ${short(data, 18)}`;
  }
  if (error?.reason) return `the contract refused it: ${error.reason}`;
  if (code === "CALL_EXCEPTION") return "the contract refused it without a reason (a token without error messages?)";
  const message = error?.shortMessage || error?.info?.error?.message || error?.message || String(error);
  return message.split("\n")[0];
}

// ------------------------------------------------------------------ server API

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(`${API}${path}`, options);
  } catch (_) {
    throw new UserError("the app's server did not answer; check your connection and reload");
  }
  const body = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
  if (!response.ok) throw new UserError(body.error || `the server answered ${response.status}`);
  return body;
}

// ------------------------------------------------------------------ transactions

/**
 * Simulate, then send through the wallet, showing each state; returns the receipt.
 * A simulated revert is explained and nothing is signed or sent.
 */
async function transact(label, contract, method, args) {
  const entry = activity(label);
  const to = await contract.getAddress();
  const data = contract.interface.encodeFunctionData(method, args);
  const request = { from: state.address, to, data };
  let gas;
  try {
    await state.provider.call(request);
    gas = await state.provider.estimateGas(request);
  } catch (error) {
    const reason = explainError(error);
    entry.set("refused", `not sent: ${reason}`);
    throw new UserError(`${label}: ${reason}`);
  }
  entry.set("signing", "waiting for your wallet to sign…");
  setStatus(`${label}: confirm in your wallet…`, "pending");
  let sent;
  try {
    sent = await state.signer.sendTransaction({ to, data, gasLimit: (gas * 12n) / 10n + 10_000n });
  } catch (error) {
    const reason = explainError(error);
    entry.set("refused", reason);
    throw new UserError(`${label}: ${reason}`);
  }
  entry.set("pending", "pending, waiting for a block…", sent.hash);
  setStatus(`${label}: pending ${sent.hash}`, "pending");
  let receipt;
  try {
    receipt = await sent.wait();
  } catch (error) {
    const reason = explainError(error);
    entry.set("reverted", `failed on-chain: ${reason}`, sent.hash);
    throw new UserError(`${label}: failed on-chain: ${reason}`);
  }
  entry.set("confirmed", `confirmed in block ${receipt.blockNumber}`, sent.hash);
  return receipt;
}

async function chainTime() {
  const block = await state.provider.getBlock("latest");
  return Number(block.timestamp);
}

// ------------------------------------------------------------------ wallet discovery and connection

function renderWallets() {
  const box = $("wallets");
  box.replaceChildren();
  if (state.wallets.size === 0) {
    box.innerHTML = '<span class="muted">No browser wallet found: install one (e.g. MetaMask, Rabby, Frame) and reload.</span>';
    return;
  }
  for (const [uuid, detail] of state.wallets) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.uuid = uuid;
    button.className = "wallet-btn";
    button.textContent = state.eip1193 === detail.provider ? `Connected: ${detail.info.name}` : `Connect ${detail.info.name}`;
    button.addEventListener("click", () => guarded(() => connect(detail)));
    box.append(button);
  }
}

function discoverWallets() {
  window.addEventListener("eip6963:announceProvider", (event) => {
    const detail = event.detail;
    if (!detail?.info?.uuid || !detail?.provider?.request) return;
    state.wallets.set(detail.info.uuid, detail);
    renderWallets();
  });
  window.dispatchEvent(new Event("eip6963:requestProvider"));
  // Wallets without EIP-6963 still inject window.ethereum: offer it when nothing announced itself.
  setTimeout(() => {
    if (state.wallets.size === 0 && window.ethereum?.request) {
      state.wallets.set("window.ethereum", { info: { uuid: "window.ethereum", name: "browser wallet" }, provider: window.ethereum });
    }
    renderWallets();
  }, 300);
}

async function connect(detail) {
  const wallet = detail.provider;
  setStatus(`Connecting to ${detail.info.name}…`, "pending");
  const accounts = await wallet.request({ method: "eth_requestAccounts" });
  if (!accounts?.length) throw new UserError("the wallet shared no account; unlock it and connect again");
  if (state.eip1193 !== wallet) {
    wallet.on?.("accountsChanged", () => guarded(() => connect(detail)));
    wallet.on?.("chainChanged", () => guarded(() => connect(detail)));
  }
  state.eip1193 = wallet;
  state.address = ethers.getAddress(accounts[0]);
  const chainId = Number(BigInt(await wallet.request({ method: "eth_chainId" })));
  $("account").hidden = false;
  $("address").textContent = state.address;
  $("chain-id").textContent = String(chainId);
  renderWallets();
  const expected = state.config.chainId;
  if (chainId !== expected) {
    lock(true);
    const line = `Wrong network: your wallet is on chain ${chainId}, this tournament is on chain ${expected}; switch your wallet to chain ${expected}.`;
    $("wrong-chain").textContent = line;
    $("wrong-chain").hidden = false;
    setStatus(line, "error");
    return;
  }
  $("wrong-chain").hidden = true;
  state.provider = new ethers.BrowserProvider(wallet, chainId);
  state.signer = await state.provider.getSigner(state.address);
  state.tournament = new ethers.Contract(state.config.tournament, state.config.abi.tournament, state.provider);
  state.nmr = new ethers.Contract(state.config.nmr, state.config.abi.nmr, state.provider);
  if ((await state.provider.getCode(state.config.tournament)) === "0x") {
    lock(true);
    throw new UserError(`no tournament contract at ${state.config.tournament} on chain ${chainId}; is your wallet on the right node?`);
  }
  lock(false);
  await refresh();
  setStatus(`Connected ${state.address} on chain ${chainId}.`, "ok");
}

function lock(locked) {
  document.querySelector("fieldset.needs-wallet").disabled = locked;
}

// ------------------------------------------------------------------ reading and rendering

async function refresh() {
  if (!state.provider) return;
  const [tokenWei, walletWei, rounds, account] = await Promise.all([
    state.nmr.balanceOf(state.address),
    state.tournament.balanceOf(state.address),
    api("/rounds"),
    api(`/account/${state.address}`),
  ]);
  $("nmr-balance").textContent = `${formatNmr(tokenWei)} NMR`;
  $("wallet-balance").textContent = `${formatNmr(walletWei)} NMR`;
  state.rounds = rounds.rounds;
  state.account = account;
  renderRounds();
  renderModels();
  renderStakes();
  renderReceipts();
}

function option(value, text) {
  const node = document.createElement("option");
  node.value = String(value);
  node.textContent = text;
  return node;
}

function renderRounds() {
  const select = $("round");
  const previous = select.value;
  select.replaceChildren();
  const open = state.rounds.filter((r) => r.phase === "Open");
  if (!open.length) select.append(option("", "no open round"));
  for (const r of open) select.append(option(r.roundId, `round ${r.roundId} · closes ${utc(r.closeTime)}`));
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
}

function renderModels() {
  const list = $("models");
  const select = $("model");
  const previous = select.value;
  list.replaceChildren();
  select.replaceChildren();
  const models = state.account?.models || [];
  if (!models.length) {
    list.innerHTML = '<li class="muted">No models yet: create one below.</li>';
    select.append(option("", "create a model first"));
  }
  for (const m of models) {
    const item = document.createElement("li");
    item.innerHTML = `<a href="/model/${m.modelId}">model ${m.modelId}</a> <b></b>`;
    item.querySelector("b").textContent = m.name;
    list.append(item);
    select.append(option(m.modelId, `${m.modelId} · ${m.name}`));
  }
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
}

function renderStakes() {
  const body = $("stakes");
  const select = $("unstake-stake");
  body.replaceChildren();
  select.replaceChildren();
  const stakes = state.account?.stakes || [];
  if (!stakes.length) body.innerHTML = '<tr><td colspan="9" class="l muted">No open or pending stakes.</td></tr>';
  for (const s of stakes) {
    const row = document.createElement("tr");
    row.dataset.round = s.roundId;
    row.dataset.model = s.modelId;
    const cells = [String(s.roundId), `${s.modelId} ${s.modelName}`, formatNmr(s.amountWei), (s.corrMult / 100).toString(),
      (s.mmcMult / 100).toString(), short(s.submissionHash, 12), s.phase, utc(s.closeTime)];
    cells.forEach((text, i) => {
      const cell = document.createElement("td");
      cell.textContent = text;
      if ([1, 5, 6, 7].includes(i)) cell.className = "l";
      if (i === 5) { cell.classList.add("mono"); cell.title = s.submissionHash; }
      row.append(cell);
    });
    const actions = document.createElement("td");
    if (s.refundable) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "refund-btn";
      button.textContent = "Refund";
      button.addEventListener("click", () => guarded(() => refund(s)));
      actions.append(button);
    }
    row.append(actions);
    body.append(row);
    if (s.phase === "Open") {
      select.append(option(`${s.roundId}:${s.modelId}`, `round ${s.roundId} · model ${s.modelId} (${formatNmr(s.amountWei)} NMR)`));
    }
  }
  if (!select.options.length) select.append(option("", "no open stake"));
}

// ------------------------------------------------------------------ receipts (localStorage)

function receiptsKey() {
  return `tournament-receipts:${state.config.chainId}:${state.config.tournament}:${state.address || "-"}`.toLowerCase();
}

function loadReceipts() {
  try { return JSON.parse(localStorage.getItem(receiptsKey()) || "[]"); } catch (_) { return []; }
}

function saveReceipt(record) {
  const all = loadReceipts();
  all.push(record);
  localStorage.setItem(receiptsKey(), JSON.stringify(all));
}

function renderReceipts() {
  const list = $("receipts");
  list.replaceChildren();
  const all = loadReceipts();
  if (!all.length) list.innerHTML = '<li class="muted">None yet.</li>';
  for (const r of all.slice().reverse()) {
    const item = document.createElement("li");
    const signed = r.service?.receipt || r.service?.signature ? "signed receipt" : "service record";
    item.textContent = `round ${r.roundId} · model ${r.modelId} · ${r.fileName} · ${r.submissionHash} · ${r.service?.status || ""} (${signed}) · ${r.uploadedAt}`;
    list.append(item);
  }
}

function downloadReceipts() {
  const blob = new Blob([JSON.stringify(loadReceipts(), null, 2)], { type: "application/json" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `upload-receipts-${(state.address || "wallet").slice(0, 10)}.json`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// ------------------------------------------------------------------ actions

async function deposit() {
  const amount = parseNmr($("deposit-amount").value, "deposit");
  const tokenWei = await state.nmr.balanceOf(state.address);
  if (tokenWei < amount) {
    throw new UserError(`deposit: your NMR token balance is ${nmrOf(tokenWei)}, ${nmrOf(amount)} needed; get NMR first`);
  }
  const usePermit = state.config.token.permit && !$("deposit-approve").checked;
  if (usePermit) {
    const entry = activity(`permit for ${nmrOf(amount)}`);
    const deadline = (await chainTime()) + 3600;
    const nonce = await state.nmr.nonces(state.address);
    const domain = { ...state.config.token.permitDomain, chainId: state.config.chainId, verifyingContract: state.config.nmr };
    const types = { Permit: [
      { name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" },
      { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" }] };
    entry.set("signing", "sign the permit in your wallet (a signature, not a transaction)…");
    let signature;
    try {
      signature = await state.signer.signTypedData(domain, types,
        { owner: state.address, spender: state.config.tournament, value: amount, nonce, deadline });
    } catch (error) {
      entry.set("refused", explainError(error));
      throw new UserError(`deposit: ${explainError(error)}`);
    }
    entry.set("confirmed", "signed");
    const { v, r, s } = ethers.Signature.from(signature);
    await transact(`deposit ${nmrOf(amount)} with permit`, state.tournament, "depositWithPermit", [amount, deadline, v, r, s]);
  } else {
    const allowance = await state.nmr.allowance(state.address, state.config.tournament);
    if (allowance < amount) {
      // Approve from zero: the legacy NMR refuses to change a non-zero allowance to another non-zero one.
      if (allowance > 0n) await transact("reset the NMR allowance to 0", state.nmr, "approve", [state.config.tournament, 0n]);
      await transact(`approve ${nmrOf(amount)}`, state.nmr, "approve", [state.config.tournament, amount]);
    }
    await transact(`deposit ${nmrOf(amount)}`, state.tournament, "deposit", [amount]);
  }
  await refresh();
  setStatus(`Deposited ${nmrOf(amount)} into your tournament wallet.`, "ok");
}

async function withdraw() {
  const amount = parseNmr($("withdraw-amount").value, "withdraw");
  await transact(`withdraw ${nmrOf(amount)}`, state.tournament, "withdraw", [amount]);
  await refresh();
  setStatus(`Withdrew ${nmrOf(amount)} to ${state.address}.`, "ok");
}

async function createModel() {
  const name = $("model-name").value.trim();
  const length = new TextEncoder().encode(name).length;
  if (length < 1 || length > 64) throw new UserError(`a model name must be 1 to 64 bytes, got ${length}`);
  const receipt = await transact(`create model "${name}"`, state.tournament, "createModel", [name]);
  const created = receipt.logs.map((log) => { try { return state.tournament.interface.parseLog(log); } catch (_) { return null; } })
    .find((parsed) => parsed?.name === "ModelCreated");
  await refresh();
  const modelId = created ? created.args.modelId.toString() : "?";
  if (created) $("model").value = modelId;
  setStatus(`Created model ${modelId} (${name}).`, "ok");
}

async function submitAndStake() {
  const roundId = Number($("round").value);
  const modelId = Number($("model").value);
  if (!roundId) throw new UserError("no open round to stake on; wait for the operator to open the next round");
  if (!modelId) throw new UserError("create a model first, then pick it");
  const file = $("file").files[0];
  if (!file) throw new UserError("choose a predictions file (CSV or Parquet with columns id,prediction)");
  const amount = parseNmr($("stake-amount").value, "stake");
  const corrMult = parseMultiplier($("corr-mult").value, "CORR multiplier");
  const mmcMult = parseMultiplier($("mmc-mult").value, "MMC multiplier");
  if (!state.config.uploads.enabled) throw new UserError("this app has no submission API configured; uploads are not possible here");
  if (file.size > state.config.uploads.maxBytes) {
    throw new UserError(`${file.name}: file is ${file.size.toLocaleString("en")} bytes, more than the ${state.config.uploads.maxBytes.toLocaleString("en")} allowed; upload only the id and prediction columns`);
  }

  // 1. The file: the same rules and words as `tournament validate` (the server runs that code).
  const raw = new Uint8Array(await file.arrayBuffer());
  const fileHash = ethers.keccak256(raw);
  setStatus(`Checking ${file.name}…`, "pending");
  const check = await api(`/rounds/${roundId}/validate?name=${encodeURIComponent(file.name)}`,
    { method: "POST", body: raw, headers: { "Content-Type": "application/octet-stream" } });
  $("validation").className = check.valid ? "small valid" : "small invalid";
  $("validation").textContent = check.valid
    ? `${file.name}: valid, ${check.predictions} predictions for ${check.liveIds} live ids; keccak256 ${check.submissionHash}`
    : check.message;
  if (!check.valid) throw new UserError(check.message);
  if (check.submissionHash !== fileHash) throw new UserError("the server hashed the file differently; reload the page and try again");

  // 2. Would the stake go through? Simulated before anything is uploaded or signed.
  const stakeArgs = [roundId, modelId, amount, corrMult, mmcMult, fileHash];
  const entry = activity(`stake check for model ${modelId}`);
  try {
    await state.provider.call({ from: state.address, to: state.config.tournament,
      data: state.tournament.interface.encodeFunctionData("stake", stakeArgs) });
    entry.set("confirmed", "the stake would go through");
  } catch (error) {
    const reason = explainError(error);
    entry.set("refused", `not uploaded, not sent: ${reason}`);
    throw new UserError(`stake: ${reason}`);
  }

  // 3. Upload, signed with EIP-712 Upload(roundId, modelId, fileHash, expiry).
  const expiry = (await chainTime()) + state.config.uploads.ttlSeconds;
  const upload = activity(`upload ${file.name}`);
  upload.set("signing", "sign the upload in your wallet (a signature, not a transaction)…");
  let signature;
  try {
    signature = await state.signer.signTypedData(
      { ...state.config.uploads.domain, chainId: state.config.chainId, verifyingContract: state.config.tournament },
      state.config.uploads.types, { roundId, modelId, fileHash, expiry });
  } catch (error) {
    upload.set("refused", explainError(error));
    throw new UserError(`upload: ${explainError(error)}`);
  }
  upload.set("pending", "uploading…");
  let service;
  try {
    service = await api(`/rounds/${roundId}/models/${modelId}/submission`, {
      method: "POST", body: raw,
      headers: { "Content-Type": "application/octet-stream", "X-Signature": signature, "X-Expiry": String(expiry), "X-Submission-Hash": fileHash },
    });
  } catch (error) {
    upload.set("refused", explainError(error));
    throw new UserError(`upload: ${explainError(error)}`);
  }
  upload.set("confirmed", `the submission service ${service.status || "accepted"} it`);
  saveReceipt({ chainId: state.config.chainId, tournament: state.config.tournament, account: state.address, roundId, modelId,
    fileName: file.name, bytes: raw.length, submissionHash: fileHash, uploadSignature: signature, expiry,
    uploadedAt: new Date().toISOString(), service });
  renderReceipts();

  // 4. Stake on the hash of exactly these bytes.
  await transact(`stake ${nmrOf(amount)} on model ${modelId} in round ${roundId}`, state.tournament, "stake", stakeArgs);
  await refresh();
  setStatus(`Uploaded ${file.name} and staked ${nmrOf(amount)} on model ${modelId} in round ${roundId} (file ${short(fileHash, 12)}).`, "ok");
}

async function unstake() {
  const choice = $("unstake-stake").value;
  if (!choice) throw new UserError("there is no open stake to unstake from");
  const [roundId, modelId] = choice.split(":").map(Number);
  const amount = parseNmr($("unstake-amount").value, "unstake");
  await transact(`unstake ${nmrOf(amount)} from model ${modelId} in round ${roundId}`, state.tournament, "unstake", [roundId, modelId, amount]);
  await refresh();
  setStatus(`Unstaked ${nmrOf(amount)} from model ${modelId} in round ${roundId}; it is back in your tournament wallet.`, "ok");
}

async function refund(stake) {
  await transact(`refund model ${stake.modelId} in round ${stake.roundId}`, state.tournament, "refund", [stake.roundId, [stake.modelId]]);
  await refresh();
  setStatus(`Refunded ${formatNmr(stake.amountWei)} NMR of model ${stake.modelId} in round ${stake.roundId} to your tournament wallet.`, "ok");
}

// ------------------------------------------------------------------ leaderboard and diagnostics (no wallet)

const signed = (value, digits = 5) => (value === null || value === undefined ? "-" : `${value >= 0 ? "+" : ""}${value.toFixed(digits)}`);

function tableRow(cells, leftColumns = []) {
  const row = document.createElement("tr");
  cells.forEach((text, i) => {
    const cell = document.createElement("td");
    cell.textContent = text;
    if (leftColumns.includes(i)) cell.className = "l";
    row.append(cell);
  });
  return row;
}

async function loadLeaderboard() {
  const board = await api("/leaderboard");
  const body = $("leaderboard");
  body.replaceChildren();
  if (!board.rows.length) body.innerHTML = '<tr><td colspan="8" class="l muted">No settled stakes yet.</td></tr>';
  board.rows.forEach((r, i) => {
    const notes = [r.invalid ? `${r.invalid} invalid` : "", r.refunded ? `${r.refunded} refunded` : ""].filter(Boolean);
    const row = tableRow([String(i + 1), `${r.modelId} ${r.modelName}${notes.length ? ` (${notes.join(", ")})` : ""}`,
      String(r.rounds), signed(r.meanCorr), signed(r.meanMmc), formatNmr(r.earnedWei),
      `${signed(r.returnRatio * 100, 2)}%`, signed(r.reputation)], [1]);
    row.dataset.model = r.modelId;
    row.title = `owner ${r.owner}; staked ${r.stakedNmr} NMR; earned ${r.earnedNmr} NMR; last round ${r.lastRound}`;
    body.append(row);
  });
}

async function diagnose() {
  const file = $("diagnostics-file").files[0];
  if (!file) throw new UserError("choose a validation predictions file (CSV or Parquet with columns id,prediction)");
  setStatus(`Diagnosing ${file.name}…`, "pending");
  const report = await api(`/diagnostics?name=${encodeURIComponent(file.name)}`,
    { method: "POST", body: await file.arrayBuffer(), headers: { "Content-Type": "application/octet-stream" } });
  $("diagnostics-summary").replaceChildren(...[["CORR", report.corr], [`MMC (vs ${report.meta_model})`, report.mmc],
    ["FNC (feature-neutral)", report.fnc]].map(([label, s]) => tableRow([label, signed(s.mean), s.std.toFixed(5), signed(s.sharpe, 3)], [0])));
  $("diagnostics-table").hidden = false;
  $("diagnostics-notes").textContent = `${file.name}: ${report.ids.toLocaleString("en")} ids over ${report.eras} validation eras; ` +
    `max drawdown of cumulative CORR ${report.max_drawdown.toFixed(5)}; feature exposure max ${report.max_feature_exposure.toFixed(4)}, ` +
    `RMS ${report.rms_feature_exposure.toFixed(4)} (most exposed: ${report.worst_feature}); ` +
    `correlation with the example model ${signed(report.corr_with_example, 4)}`;
  // An <img> of the SVG: shown, never executed as part of the page.
  $("diagnostics-chart").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(report.chart)}`;
  $("diagnostics-chart").hidden = false;
  setStatus(`Diagnosed ${file.name}.`, "ok");
}

/** Runs one user action at a time; any failure becomes one line in the status bar. */
async function guarded(action) {
  if (state.busy) { setStatus("one thing at a time: wait for the current action to finish", "pending"); return; }
  state.busy = true;
  document.body.dataset.busy = "1";
  try {
    await action();
  } catch (error) {
    setStatus(explainError(error), "error");
    if (!(error instanceof UserError)) console.error(error);
  } finally {
    state.busy = false;
    delete document.body.dataset.busy;
  }
}

function onSubmit(id, action) {
  $(id).addEventListener("submit", (event) => { event.preventDefault(); guarded(action); });
}

async function main() {
  try {
    state.config = await api("/config");
  } catch (error) {
    setStatus(explainError(error), "error");
    return;
  }
  $("token-mode").textContent = state.config.token.permit
    ? `${state.config.token.symbol} with EIP-2612 permit (one transaction per deposit)`
    : `${state.config.token.symbol} without permit (approve, then deposit)`;
  if (!state.config.token.permit) { $("deposit-approve").checked = true; $("deposit-approve").disabled = true; }
  onSubmit("deposit-form", deposit);
  onSubmit("withdraw-form", withdraw);
  onSubmit("model-form", createModel);
  onSubmit("submit-form", submitAndStake);
  onSubmit("unstake-form", unstake);
  onSubmit("diagnostics-form", diagnose);
  $("download-receipts").addEventListener("click", downloadReceipts);
  renderReceipts();
  loadLeaderboard().catch((error) => {
    $("leaderboard").innerHTML = "";
    $("leaderboard").append(tableRow([explainError(error)], [0]));
  });
  discoverWallets();
  setStatus("Connect a wallet to stake.");
  document.body.dataset.ready = "1";
}

main();
