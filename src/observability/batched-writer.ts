// Log lines written to a file descriptor in batches: a line waits at most FLUSH_AFTER_MS (or until 64 KiB
// are waiting) and then goes out with the others in a single write, not one syscall each. NMI writes one
// line per token request; a syscall per line cost more than the request itself, and so did one per turn
// of the event loop under load (a turn answers only a few requests). Writes stay synchronous (writeSync)
// so a flush at exit loses nothing: pino's async destination (sonic-boom) can still have a write in
// flight when process.exit runs.
import { writeSync } from "node:fs";

const BUFFER_BYTES = 64 * 1024;
/** How long a line may wait for others before it is written anyway. */
export const FLUSH_AFTER_MS = 20;

/** The default schedule: a timer that does not keep the process alive (exit flushes what waits). */
function afterShortDelay(flush: () => void): void {
  setTimeout(flush, FLUSH_AFTER_MS).unref();
}

export interface BatchedWriterOptions {
  /** Runs `flush` a little later; by default after FLUSH_AFTER_MS on an unref'd timer. */
  schedule?: (flush: () => void) => void;
  /** Writes one batch of UTF-8 bytes; writeSync on the descriptor by default. */
  writeOut?: (bytes: Uint8Array) => void;
}

/**
 * Each line is encoded into one reused 64 KiB buffer as it arrives, and the buffer is what gets written:
 * no array of waiting strings, no joined batch string, no second copy to encode it (under load those
 * allocations cost more than rendering the lines).
 */
export class BatchedWriter {
  readonly #schedule: (flush: () => void) => void;
  readonly #writeOut: (bytes: Uint8Array) => void;
  readonly #buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  #used = 0;
  #scheduled = false;

  constructor(fd: number, options: BatchedWriterOptions = {}) {
    this.#schedule = options.schedule ?? afterShortDelay;
    this.#writeOut = options.writeOut ?? ((bytes) => writeAll(fd, bytes));
  }

  write(line: string): void {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8: make sure the whole line fits before encoding.
    if (line.length * 3 > BUFFER_BYTES - this.#used) {
      this.flush();
      if (line.length * 3 > BUFFER_BYTES) {
        this.#writeOut(Buffer.from(line, "utf8"));
        return;
      }
    }
    this.#used += this.#buffer.write(line, this.#used, "utf8");
    this.#flushSoon();
  }

  /** Bytes already encoded (a line, or a piece of one: lines may arrive in pieces, in order). */
  writeBytes(bytes: Uint8Array): void {
    if (bytes.length > BUFFER_BYTES - this.#used) {
      this.flush();
      if (bytes.length > BUFFER_BYTES) {
        this.#writeOut(bytes);
        return;
      }
    }
    this.#buffer.set(bytes, this.#used);
    this.#used += bytes.length;
    this.#flushSoon();
  }

  #flushSoon(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#schedule(this.#scheduledFlush);
  }

  // Made once: a method holding this arrow would get a fresh scope on every call (JSC allocates the
  // captured `this` per call), and #flushSoon runs for every piece of every line.
  readonly #scheduledFlush = () => {
    this.#scheduled = false;
    this.flush();
  };

  /** Writes everything waiting, now. */
  flush(): void {
    if (this.#used === 0) return;
    const used = this.#used;
    this.#used = 0;
    this.#writeOut(this.#buffer.subarray(0, used));
  }
}

/** writeSync until every byte is out (a pipe may take part of a large write). */
function writeAll(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
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
