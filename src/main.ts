// Entry point: argv -> command -> run. The one place that turns outcomes into exit codes:
// configuration errors 2 (one line, no stack), any other failure 1 (message only), otherwise what the
// role returns. Logging, metrics and the role modules are imported only on the run path, so
// --version and --help stay fast.
import { writeSync } from "node:fs";
import { effectiveConfigJson } from "./config/effective-config.ts";
import { parseCommandLine } from "./config/parse.ts";
import type { RoleConfig } from "./config/types.ts";
import { flushStderr } from "./observability/batched-writer.ts";
import type { Logger } from "./observability/logger.ts";
import { userAgent, version, versionLine } from "./version.ts";

const program = "pod-identity";
const signalExitCodes = { SIGINT: 130, SIGTERM: 143 } as const;

function writeLine(fd: 1 | 2, text: string): void {
  // After the log lines already waiting; synchronous, so nothing is lost when process.exit follows.
  flushStderr();
  writeSync(fd, text.endsWith("\n") ? text : `${text}\n`);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** First SIGTERM/SIGINT aborts the role's signal; a second one ends the process at once. */
function abortOnSignals(controller: AbortController, logger: Logger): void {
  let received = 0;
  for (const name of Object.keys(signalExitCodes) as (keyof typeof signalExitCodes)[]) {
    process.on(name, () => {
      received++;
      if (received === 1) {
        logger.info({ signal: name }, "shutting down (send the signal again to exit at once)");
        controller.abort(new Error(`received ${name}`));
        return;
      }
      logger.warn({ signal: name }, "second signal: exiting now");
      process.exit(signalExitCodes[name]);
    });
  }
}

async function runRole(config: RoleConfig): Promise<number> {
  const [{ createLogger }, { createMetricsRegistry }, { loadRoleStarter }] = await Promise.all([
    import("./observability/logger.ts"),
    import("./observability/metrics.ts"),
    import("./roles/registry.ts"),
  ]);
  // Only the chosen role's module is loaded; a missing one fails here, before anything starts.
  const start = await loadRoleStarter(config);
  const component = config.role === "mic" ? "MIC" : "NMI";
  const logger = createLogger({
    format: config.logging.format,
    verbosity: config.logging.verbosity,
    bindings: { component: config.role },
  });
  const controller = new AbortController();
  abortOnSignals(controller, logger);
  logger.info(
    { version: version.version, commit: version.commit, buildDate: version.buildDate },
    `starting ${config.role}`,
  );
  logger.V(2).info({ userAgent: userAgent(component, config.customUserAgent) }, "user agent");
  if (config.enableProfile) logger.warn("--enableProfile is accepted for compatibility; no profiler is served");

  const ctx = { logger, metrics: createMetricsRegistry(), signal: controller.signal };
  const code = await start(ctx);
  if (!Number.isInteger(code) || code < 0 || code > 255) {
    logger.error({ code }, "role returned an invalid exit code");
    return 1;
  }
  logger.info({ code }, `${config.role} stopped`);
  return code;
}

async function main(argv: readonly string[], env: Record<string, string | undefined>): Promise<number> {
  const parsed = parseCommandLine(argv, env);
  if (!parsed.ok) {
    writeLine(2, parsed.message);
    return parsed.exitCode;
  }
  const { command } = parsed;
  switch (command.kind) {
    case "help":
      writeLine(1, command.text);
      return 0;
    case "version":
      writeLine(1, versionLine());
      return 0;
    case "validate":
      writeLine(1, effectiveConfigJson(command.config));
      return 0;
    case "run":
      return await runRole(command.config);
    case "wait": {
      // Exit codes are the wait command's own (see `pod-identity wait --help`).
      const { runWaitCommand } = await import("./wait/command.ts");
      return await runWaitCommand(command.config);
    }
  }
}

function exitOnUncaught(error: unknown): void {
  writeLine(2, `${program}: ${describe(error)}`);
  process.exit(1);
}
process.on("uncaughtException", exitOnUncaught);
process.on("unhandledRejection", exitOnUncaught);

main(process.argv.slice(2), process.env).then((code) => process.exit(code), exitOnUncaught);
