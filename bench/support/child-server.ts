// Starts a bench server script in its own bun process and reads the port it prints first on stdout.
export interface ChildServer {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export async function startChildServer(script: string, args: string[] = []): Promise<ChildServer> {
  const child = Bun.spawn([process.execPath, script, ...args], { stdout: "pipe", stderr: "inherit" });
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${script} exited before printing its port`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const port = Number(text.trim().split("\n")[0]);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`${script} printed ${JSON.stringify(text)}, not a port`);
  return {
    port,
    pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      await child.exited;
    },
  };
}
