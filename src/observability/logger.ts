// Structured logging on stderr (stdout stays free for --validate-config output): pino underneath,
// klog-style verbosity on top. -v 0-3 logs info and above, >= 4 adds debug, >= 6 adds trace, and
// V(n) gates a line on -v >= n as klog.V(n).Info did.
import pino from "pino";
import type { LogFormat } from "../config/types.ts";
import { sharedStderr } from "./batched-writer.ts";
import { renderTextLine } from "./text-format.ts";

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
  /**
   * Where this logger's lines go, in which format and with which fixed fields: for a hot path that
   * renders its own fixed-shape line (NMI's per-request line) rather than pino's per-call field loop.
   */
  readonly output: LogOutput;
}

export interface LogOutput {
  readonly format: LogFormat;
  readonly destination: LogDestination;
  /** The fixed fields on every line of this logger (the base bindings plus every child's). */
  readonly bindings: Readonly<Record<string, unknown>>;
}

export interface LogDestination {
  write(line: string): void;
  /**
   * Optional: takes a line as UTF-8 bytes, possibly in several pieces written one after the other (the
   * last ends with the newline). For a hot path that keeps its lines' bytes encoded (token-request-line.ts).
   */
  writeBytes?(bytes: Uint8Array): void;
}

export interface LoggerOptions {
  format: LogFormat;
  verbosity: number;
  /** Defaults to stderr, batched (a line waits at most 20 ms) and flushed on exit (batched-writer.ts). */
  destination?: LogDestination;
  /** Fields on every line, e.g. { component: "nmi" }. */
  bindings?: Record<string, unknown>;
}

export function pinoLevelFor(verbosity: number): "info" | "debug" | "trace" {
  if (verbosity >= 6) return "trace";
  if (verbosity >= 4) return "debug";
  return "info";
}

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

/** The bindings of each pino logger (base fields plus every child's), for text lines. */
type BindingsOf = WeakMap<pino.Logger, Record<string, unknown>>;

function wrap(target: pino.Logger, verbosity: number, bindingsOf: BindingsOf, output: LogOutput): Logger {
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
      const child = target.child(bindings);
      const merged = { ...bindingsOf.get(target), ...bindings };
      bindingsOf.set(child, merged);
      return wrap(child, verbosity, bindingsOf, { ...output, bindings: merged });
    },
    verbosity,
    output,
  };
}

/** A logging call's arguments as pino received them: ([fields,] message). */
function splitArgs(args: unknown[]): { fields: Record<string, unknown> | undefined; message: string } {
  const [first, second] = args;
  if (typeof first === "string") return { fields: undefined, message: first };
  const fields = typeof first === "object" && first !== null ? (first as Record<string, unknown>) : undefined;
  return { fields, message: typeof second === "string" ? second : "" };
}

export function createLogger(options: LoggerOptions): Logger {
  const sink = options.destination ?? sharedStderr();
  const bindingsOf: BindingsOf = new WeakMap();
  // Text lines are rendered from the call's own arguments in pino's logMethod hook (pino still decides
  // the level and carries the bindings); JSON lines are pino's own.
  const textHook: pino.LoggerOptions["hooks"] = {
    logMethod(args, _method, level) {
      const { fields, message } = splitArgs(args);
      sink.write(renderTextLine(level, Date.now(), message, bindingsOf.get(this), fields));
    },
  };
  const target = pino(
    {
      level: pinoLevelFor(options.verbosity),
      base: options.bindings ?? null,
      timestamp: pino.stdTimeFunctions.isoTime,
      ...(options.format === "text" ? { hooks: textHook } : {}),
    },
    sink,
  );
  const bindings = options.bindings ?? {};
  bindingsOf.set(target, bindings);
  return wrap(target, options.verbosity, bindingsOf, { format: options.format, destination: sink, bindings });
}

/** A logger that writes nothing; for tests and callers that need one before configuration is known. */
export function silentLogger(): Logger {
  return createLogger({ format: "json", verbosity: 0, destination: { write: () => {} } });
}
