import { describe, expect, test } from "bun:test";
import { BatchedWriter, FLUSH_AFTER_MS } from "../../src/observability/batched-writer.ts";

function manualWriter() {
  const writes: string[] = [];
  const scheduled: (() => void)[] = [];
  const writer = new BatchedWriter(2, {
    schedule: (flush) => scheduled.push(flush),
    // The writer reuses its buffer: decode each batch as it is handed over.
    writeOut: (bytes) => writes.push(new TextDecoder().decode(bytes)),
  });
  const runScheduled = () => {
    for (const flush of scheduled.splice(0)) flush();
  };
  return { writer, writes, scheduled, runScheduled };
}

describe("BatchedWriter", () => {
  test("lines written before the scheduled flush go out together, in order, in one write", () => {
    const { writer, writes, scheduled, runScheduled } = manualWriter();
    writer.write("a\n");
    writer.write("b\n");
    writer.write("c\n");
    expect(writes).toEqual([]);
    expect(scheduled).toHaveLength(1);
    runScheduled();
    expect(writes).toEqual(["a\nb\nc\n"]);
    writer.write("d\n");
    runScheduled();
    expect(writes).toEqual(["a\nb\nc\n", "d\n"]);
  });

  test("a line that would not fit in the 64 KiB buffer first sends what waits, without waiting for the scheduled flush", () => {
    const { writer, writes } = manualWriter();
    const line = `${"x".repeat(1023)}\n`;
    for (let i = 0; i < 60; i++) writer.write(line);
    expect(writes).toEqual([]);
    for (let i = 0; i < 10; i++) writer.write(line);
    expect(writes).toHaveLength(1);
    expect(writes[0]?.length).toBeGreaterThan(40 * 1024);
    expect(writes[0]?.length).toBeLessThanOrEqual(64 * 1024);
    writer.flush();
    expect(writes.join("")).toBe(line.repeat(70));
  });

  test("a line longer than the buffer goes out whole, after what was waiting", () => {
    const { writer, writes } = manualWriter();
    const huge = `${"é".repeat(40_000)}\n`;
    writer.write("before\n");
    writer.write(huge);
    writer.write("after\n");
    writer.flush();
    expect(writes).toEqual(["before\n", huge, "after\n"]);
  });

  test("bytes join the same batch as strings, in order; pieces of one line may end a batch", () => {
    const { writer, writes, scheduled, runScheduled } = manualWriter();
    const bytes = (text: string) => new TextEncoder().encode(text);
    writer.write("text line\n");
    writer.writeBytes(bytes("a line in "));
    writer.writeBytes(bytes("two pieces\n"));
    expect(scheduled).toHaveLength(1);
    runScheduled();
    expect(writes).toEqual(["text line\na line in two pieces\n"]);
    // Full buffer: what waits goes out first, then the piece that did not fit starts the next batch.
    const kib = bytes(`${"y".repeat(1023)}\n`);
    for (let i = 0; i < 64; i++) writer.writeBytes(kib);
    writer.writeBytes(bytes("tail\n"));
    expect(writes).toHaveLength(2);
    expect(writes[1]).toHaveLength(64 * 1024);
    const huge = bytes("z".repeat(70_000));
    writer.writeBytes(huge);
    writer.flush();
    expect(writes.slice(2)).toEqual(["tail\n", "z".repeat(70_000)]);
  });

  test("flush writes what is waiting now, and a later scheduled flush has nothing left to write", () => {
    const { writer, writes, runScheduled } = manualWriter();
    writer.write("last words\n");
    writer.flush();
    expect(writes).toEqual(["last words\n"]);
    runScheduled();
    expect(writes).toEqual(["last words\n"]);
  });

  test("on a real descriptor every byte arrives, multi-byte characters included", async () => {
    const path = `${process.env.TMPDIR ?? "/tmp"}/batched-writer-${process.pid}.log`;
    const fd = (await import("node:fs")).openSync(path, "w");
    const writer = new BatchedWriter(fd);
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i} é ✓\n`);
    for (const line of lines) writer.write(line);
    // No explicit flush: the default schedule writes them out within FLUSH_AFTER_MS.
    await Bun.sleep(FLUSH_AFTER_MS * 3);
    const fs = await import("node:fs");
    fs.closeSync(fd);
    expect(fs.readFileSync(path, "utf8")).toBe(lines.join(""));
    fs.rmSync(path);
  });
});
