// A child process whose stdout and stderr are collected line by line, with waits for a line matching a
// pattern. Used for the node world, NMI and busybox-style gates run in network namespaces.

export class LineProcess {
  readonly lines: string[] = [];
  readonly child: Bun.Subprocess<"pipe" | "ignore", "pipe", "pipe">;
  readonly #listeners = new Set<() => void>();

  constructor(argv: string[], options: { env?: Record<string, string>; cwd?: string; stdin?: "pipe" | "ignore" } = {}) {
    this.child = Bun.spawn(argv, {
      stdin: options.stdin ?? "ignore",
      stdout: "pipe",
      stderr: "pipe",
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    void this.#collect(this.child.stdout);
    void this.#collect(this.child.stderr);
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of stream) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
        this.lines.push(buffer.slice(0, i));
        buffer = buffer.slice(i + 1);
      }
      for (const listener of this.#listeners) listener();
    }
    if (buffer) this.lines.push(buffer);
    for (const listener of this.#listeners) listener();
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** The output so far (the last `maxChars`), for failure messages. */
  tail(maxChars = 4000): string {
    return this.lines.join("\n").slice(-maxChars);
  }

  /** Resolves with the first line (from `fromIndex` on) matching `pattern`; rejects on exit or timeout. */
  async waitFor(pattern: RegExp, timeoutMs = 10_000, fromIndex = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.lines.slice(fromIndex).find((l) => pattern.test(l));
      if (line !== undefined) return line;
      if (this.exited) {
        await Bun.sleep(50); // let the last output drain
        const late = this.lines.slice(fromIndex).find((l) => pattern.test(l));
        if (late !== undefined) return late;
        throw new Error(
          `process exited (${this.child.exitCode ?? this.child.signalCode}) before ${pattern}:\n${this.tail()}`,
        );
      }
      if (Date.now() > deadline) throw new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#listeners.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, 50);
        this.#listeners.add(wake);
      });
    }
  }

  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs`. Returns the exit code (null when killed). */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 15_000): Promise<number | null> {
    if (!this.exited) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.child.exited;
    clearTimeout(timer);
    return this.child.exitCode;
  }
}
