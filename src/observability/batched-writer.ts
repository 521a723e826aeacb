// Log lines written to a file descriptor in batches: a line waits at most FLUSH_AFTER_MS (or until 64 KiB
// are waiting) and then goes out with the others in a single write, not one syscall each. NMI writes one
// line per token request; a syscall per line cost more than the request itself, and so did one per turn
// of the event loop under load (a turn answers only a few requests). Writes stay synchronous (writeSync)
// so a flush at exit loses nothing: pino's async destination (sonic-boom) can still have a write in
// flight when process.exit runs.
import { writeSync } from "node:fs";

const FLUSH_AT_BYTES = 64 * 1024;
/** How long a line may wait for others before it is written anyway. */
export const FLUSH_AFTER_MS = 20;

/** The default schedule: a timer that does not keep the process alive (exit flushes what waits). */
function afterShortDelay(flush: () => void): void {
  setTimeout(flush, FLUSH_AFTER_MS).unref();
}

export interface BatchedWriterOptions {
  /** Runs `flush` a little later; by default after FLUSH_AFTER_MS on an unref'd timer. */
  schedule?: (flush: () => void) => void;
  /** Writes one batch; writeSync on the descriptor by default. */
  writeOut?: (text: string) => void;
}

export class BatchedWriter {
  readonly #schedule: (flush: () => void) => void;
  readonly #writeOut: (text: string) => void;
  #pending: string[] = [];
  #pendingBytes = 0;
  #scheduled = false;

  constructor(fd: number, options: BatchedWriterOptions = {}) {
    this.#schedule = options.schedule ?? afterShortDelay;
    this.#writeOut = options.writeOut ?? ((text) => writeAll(fd, text));
  }

  write(line: string): void {
    this.#pending.push(line);
    this.#pendingBytes += line.length;
    if (this.#pendingBytes >= FLUSH_AT_BYTES) {
      this.flush();
      return;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#schedule(() => {
        this.#scheduled = false;
        this.flush();
      });
    }
  }

  /** Writes everything waiting, now. */
  flush(): void {
    if (this.#pending.length === 0) return;
    const text = this.#pending.join("");
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#writeOut(text);
  }
}

/** writeSync until every byte is out (a pipe may take part of a large write). */
function writeAll(fd: number, text: string): void {
  const written = writeSync(fd, text);
  // Usually all of it went out at once; only a short write pays for a Buffer.
  if (written >= Buffer.byteLength(text, "utf8")) return;
  let rest = Buffer.from(text, "utf8").subarray(written);
  while (rest.length > 0) rest = rest.subarray(writeSync(fd, rest));
}

let stderrWriter: BatchedWriter | undefined;

/** The one batched writer on stderr that every logger shares; flushed when the process exits. */
export function sharedStderr(): BatchedWriter {
  if (!stderrWriter) {
    const writer = new BatchedWriter(2);
    process.on("exit", () => writer.flush());
    stderrWriter = writer;
  }
  return stderrWriter;
}

/** Writes out the log lines still waiting (before a direct write, and before the process exits). */
export function flushStderr(): void {
  stderrWriter?.flush();
}
