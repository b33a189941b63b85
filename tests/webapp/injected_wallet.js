// A test wallet injected into the page before its scripts run: an EIP-1193 provider announced
// through EIP-6963, backed by one of anvil's default accounts. Every JSON-RPC request is
// forwarded to anvil over fetch; anvil signs eth_sendTransaction and eth_signTypedData_v4 for
// its own unlocked accounts, with the same keys eth-account's anvil_test_accounts derive.
// Every method asked is logged in window.__walletLog (the tests assert what was, and was not, sent).
// The test prepends `const WALLET = {rpc, account, chainIdOverride, legacyOnly}`; with legacyOnly the
// wallet only sets window.ethereum (a wallet without EIP-6963), without announcing itself.
(() => {
  const log = [];
  window.__walletLog = log;
  let nextId = 0;
  const listeners = {};

  async function rpc(method, params) {
    const response = await fetch(WALLET.rpc, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++nextId, method, params: params || [] }),
    });
    const body = await response.json();
    if (body.error) {
      // The shape wallets give to EIP-1193 callers: {code, message, data}.
      const error = new Error(body.error.message);
      error.code = body.error.code;
      error.data = body.error.data;
      throw error;
    }
    return body.result;
  }

  const provider = {
    isTestWallet: true,
    async request({ method, params }) {
      log.push({ method, params: params || [] });
      switch (method) {
        case "eth_requestAccounts":
        case "eth_accounts":
          return [WALLET.account];
        case "eth_chainId":
          return WALLET.chainIdOverride || rpc(method, params);
        case "net_version":
          return WALLET.chainIdOverride ? String(parseInt(WALLET.chainIdOverride, 16)) : rpc(method, params);
        case "eth_sendTransaction":
          if (params[0].from && params[0].from.toLowerCase() !== WALLET.account.toLowerCase()) {
            throw Object.assign(new Error("unknown account"), { code: 4100 });
          }
          return rpc(method, [{ ...params[0], from: WALLET.account }]);
        default:
          return rpc(method, params);
      }
    },
    on(event, handler) { (listeners[event] ||= []).push(handler); return provider; },
    removeListener(event, handler) {
      listeners[event] = (listeners[event] || []).filter((h) => h !== handler);
      return provider;
    },
  };

  const info = Object.freeze({
    uuid: "7c0b7e7e-5a5e-4d4e-9a4f-000000000001",
    name: "Test Wallet",
    icon: "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E",
    rdns: "org.example.testwallet",
  });
  if (WALLET.legacyOnly) {
    window.ethereum = provider;
    return;
  }
  const announce = () => window.dispatchEvent(
    new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();
