// Structured logging on stderr (stdout stays free for --validate-config output): pino underneath,
// klog-style verbosity on top. -v 0-3 logs info and above, >= 4 adds debug, >= 6 adds trace, and
// V(n) gates a line on -v >= n as klog.V(n).Info did.
import { writeSync } from "node:fs";
import pino from "pino";
import type { LogFormat } from "../config/types.ts";
import { formatLogLine } from "./text-format.ts";

export interface LogFn {
  (message: string): void;
  (fields: Record<string, unknown>, message: string): void;
}

export interface VerboseLogger {
  /** Whether -v is at least the level asked for; lets callers skip building expensive fields. */
  readonly enabled: boolean;
  readonly info: LogFn;
}

export interface Logger {
  readonly error: LogFn;
  readonly warn: LogFn;
  readonly info: LogFn;
  readonly debug: LogFn;
  readonly trace: LogFn;
  /** klog's V(level): an info line written only when -v >= level; it carries `v: level`. */
  V(level: number): VerboseLogger;
  child(bindings: Record<string, unknown>): Logger;
  readonly verbosity: number;
}

export interface LogDestination {
  write(line: string): void;
}

export interface LoggerOptions {
  format: LogFormat;
  verbosity: number;
  /** Defaults to stderr, written synchronously so nothing is lost on exit. */
  destination?: LogDestination;
  /** Fields on every line, e.g. { component: "nmi" }. */
  bindings?: Record<string, unknown>;
}

export function pinoLevelFor(verbosity: number): "info" | "debug" | "trace" {
  if (verbosity >= 6) return "trace";
  if (verbosity >= 4) return "debug";
  return "info";
}

const stderr: LogDestination = {
  write(line) {
    writeSync(2, line);
  },
};

const noop: LogFn = () => {};

function bind(method: pino.LogFn, target: pino.Logger, extra?: Record<string, unknown>): LogFn {
  return ((fieldsOrMessage: Record<string, unknown> | string, message?: string) => {
    if (typeof fieldsOrMessage === "string") {
      if (extra) method.call(target, extra, fieldsOrMessage);
      else method.call(target, fieldsOrMessage);
    } else {
      method.call(target, extra ? { ...fieldsOrMessage, ...extra } : fieldsOrMessage, message);
    }
  }) as LogFn;
}

function wrap(target: pino.Logger, verbosity: number): Logger {
  return {
    error: bind(target.error, target),
    warn: bind(target.warn, target),
    info: bind(target.info, target),
    debug: bind(target.debug, target),
    trace: bind(target.trace, target),
    V(level) {
      const enabled = verbosity >= level;
      return { enabled, info: enabled ? bind(target.info, target, { v: level }) : noop };
    },
    child(bindings) {
      return wrap(target.child(bindings), verbosity);
    },
    verbosity,
  };
}

export function createLogger(options: LoggerOptions): Logger {
  const sink = options.destination ?? stderr;
  const destination: LogDestination =
    options.format === "text" ? { write: (line) => sink.write(formatLogLine(line)) } : sink;
  const target = pino(
    {
      level: pinoLevelFor(options.verbosity),
      base: options.bindings ?? null,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
  return wrap(target, options.verbosity);
}

/** A logger that writes nothing; for tests and callers that need one before configuration is known. */
export function silentLogger(): Logger {
  return createLogger({ format: "json", verbosity: 0, destination: { write: () => {} } });
}
