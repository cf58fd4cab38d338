/**
 * Loggers, declared once. JSON lines (pino) by default; credentials are redacted.
 */
import { pino, type Logger } from "pino";

export type { Logger };

export function createRootLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      name: "virtufin-api",
      level,
      redact: { paths: ["authorization", "headers.authorization", "*.authorization", "token", "*.token"], censor: "[redacted]" },
    },
    destination ?? process.stdout,
  );
}

export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
