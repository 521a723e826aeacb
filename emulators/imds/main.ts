// Runs one IMDS emulator as its own process (for example inside a network namespace bound to
// 169.254.169.254:80): bun emulators/imds/main.ts --host H --port P --arm URL --vm ID
// [--signing-key-file F] [--propagation-delay-ms N]. Prints `READY <url>` once listening.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import * as v from "valibot";
import { startImdsEmulator } from "./index.ts";

const Args = v.object({
  host: v.optional(v.string(), "127.0.0.1"),
  port: v.optional(v.pipe(v.string(), v.regex(/^\d+$/), v.transform(Number), v.maxValue(65535)), "0"),
  arm: v.pipe(v.string(), v.url()),
  vm: v.pipe(v.string(), v.minLength(1)),
  "signing-key-file": v.optional(v.string()),
  "propagation-delay-ms": v.optional(v.pipe(v.string(), v.regex(/^\d+$/), v.transform(Number)), "0"),
});

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: "string" },
      port: { type: "string" },
      arm: { type: "string" },
      vm: { type: "string" },
      "signing-key-file": { type: "string" },
      "propagation-delay-ms": { type: "string" },
    },
    strict: true,
  });
  const parsed = v.safeParse(Args, values);
  if (!parsed.success) {
    throw new Error(parsed.issues.map((i) => `${v.getDotPath(i) ?? "args"}: ${i.message}`).join("; "));
  }
  const args = parsed.output;
  const keyFile = args["signing-key-file"];
  const imds = await startImdsEmulator({
    arm: args.arm.replace(/\/+$/, ""),
    vmResourceId: args.vm,
    host: args.host,
    port: args.port,
    propagationDelayMs: args["propagation-delay-ms"],
    ...(keyFile ? { issuer: { privateKeyPem: readFileSync(keyFile, "utf8") } } : {}),
  });
  const shutdown = () => void imds.stop().then(() => process.exit(0));
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  console.log(`READY ${imds.url}`);
}

main().catch((err: unknown) => {
  console.error(`imds emulator: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
