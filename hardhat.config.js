// Hardhat's node as a second EVM client (tests/networks): `npx hardhat node --port N`.
// Nothing is compiled by Hardhat (brownie compiles); this only shapes the node: chain id 31337,
// 36M-gas blocks, the Cancun EVM (HARDHAT_HARDFORK=shanghai makes a pre-Cancun chain, which the
// deploy must refuse), and anvil's well-known test mnemonic, so tests use the same keys on both.
const hardfork = process.env.HARDHAT_HARDFORK || "cancun";

module.exports = {
  solidity: "0.8.30",
  networks: {
    hardhat: {
      chainId: 31337,
      hardfork,
      blockGasLimit: 36_000_000,
      allowUnlimitedContractSize: false,
      accounts: {
        mnemonic: "test test test test test test test test test test test junk",
        count: 20,
        accountsBalance: "10000000000000000000000",
      },
      mining: { auto: true, interval: 0 },
    },
  },
};
