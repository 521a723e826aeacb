// Entry point: argv -> role -> run. The one place that turns errors into exit codes.
import { versionLine } from "./version.ts";

async function main(argv: string[]): Promise<number> {
  if (argv.includes("--version") || argv.includes("-version")) {
    console.log(versionLine());
    return 0;
  }
  console.error("pod-identity: configuration is not wired yet");
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`pod-identity: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
