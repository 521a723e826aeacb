// Log lines written to a file descriptor in batches: lines written during one turn of the event loop go
// out in a single write when the turn ends (or as soon as 64 KiB are waiting), not one syscall each.
// NMI writes one line per token request; a syscall per line cost more than the request itself. Writes
// stay synchronous (writeSync) so a flush at exit loses nothing: pino's async destination (sonic-boom)
// can still have a write in flight when process.exit runs.
import { writeSync } from "node:fs";

const FLUSH_AT_BYTES = 64 * 1024;

export interface BatchedWriterOptions {
  /** Runs `flush` once the current work is done; setImmediate by default. */
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
    this.#schedule = options.schedule ?? ((flush) => setImmediate(flush));
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

/** Writes out the log lines still waiting for the end of this event-loop turn (before a direct write). */
export function flushStderr(): void {
  stderrWriter?.flush();
}
