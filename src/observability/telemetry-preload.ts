// Preloaded with `node --import ./dist/src/observability/telemetry-preload.js`, before the app's
// modules, so instrumentation is in place first. Configured by the standard OTEL_* variables.
import { setupTelemetry } from "./telemetry-setup.js";

const telemetry = setupTelemetry(process.env);
process.once("beforeExit", () => void telemetry.shutdown());
