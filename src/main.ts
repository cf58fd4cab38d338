/**
 * The only impure edge: read the configuration, build the app, listen, stop on signals.
 */
import { createApp } from "./app.js";
import { ConfigError, helpText, loadConfig } from "./config/config.js";
import { createRootLogger } from "./observability/logger.js";
import { ServicesFileError } from "./services/registry.js";
import { PolicyFileError } from "./auth/policy.js";

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(helpText());
    return;
  }
  const config = loadConfig({ argv, env: process.env });
  const logger = createRootLogger(config.logLevel, process.stdout, config.logFormat);
  const app = createApp(config, { logger });
  logger.info({ backend: config.backend, dataDir: config.dataDir }, "starting");
  const port = await app.listen();
  logger.info({ port, host: config.host, backend: config.backend }, `virtufin-api listening on ${config.host}:${port}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    app.stop().then(
      () => logger.info("stopped"),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exitCode = 1;
      },
    );
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof ServicesFileError || err instanceof PolicyFileError) {
    console.error(`virtufin-api: ${err.message}`);
  } else {
    console.error("virtufin-api: failed to start:", err);
  }
  process.exitCode = 1;
});
