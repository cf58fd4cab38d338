import { runContractSuite } from "../contract/contract-suite.js";
import { startInProcess } from "../support/gateway.js";

runContractSuite("embedded (in-process transport)", (overrides) => startInProcess({}, overrides));
