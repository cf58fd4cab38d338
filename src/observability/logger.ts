/**
 * Loggers, declared once. JSON lines (pino) for machines, human-readable lines on a terminal;
 * credentials are redacted in both.
 */
import { pino, type DestinationStream, type Logger } from "pino";
import PinoPretty from "pino-pretty";
import { BufferedLineSink } from "./log-sink.js";

export type { Logger };

export type LogFormat = "auto" | "json" | "pretty";

/** "auto" means pretty when a person is watching (stdout is a terminal), JSON otherwise. */
export function resolveLogFormat(format: LogFormat, isTerminal: boolean): "json" | "pretty" {
  if (format === "auto") return isTerminal ? "pretty" : "json";
  return format;
}

export function createRootLogger(level: string, destination?: NodeJS.WritableStream, format: LogFormat = "json"): Logger {
  const out = destination ?? process.stdout;
  const isTerminal = (out as { isTTY?: boolean }).isTTY === true;
  const sink: NodeJS.WritableStream | DestinationStream =
    resolveLogFormat(format, isTerminal) === "pretty"
      ? // Formatted in this thread and written synchronously, so nothing is lost at exit and the
        // bundle needs no worker-thread transport.
        PinoPretty({ destination: out, sync: true, singleLine: true, colorize: isTerminal, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" })
      : new BufferedLineSink(out);
  return pino(
    {
      name: "virtufin-api",
      level,
      redact: { paths: ["authorization", "headers.authorization", "*.authorization", "token", "*.token"], censor: "[redacted]" },
    },
    sink,
  );
}

export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
