// Flags every role accepts: ours (--role, --validate-config, ...), the original's global flags, and the
// klog flags both original binaries registered. The klog flags are accepted so manifests keep working;
// only -v and --log-format change what we do (logs always go to stderr).
import * as v from "valibot";
import { boolFlag, choiceFlag, type FlagSpec, intFlag, severityFlag, stringFlag } from "./flag-spec.ts";

export const roles = ["mic", "nmi", "managed"] as const;
export type RoleName = (typeof roles)[number];

/** Flags that pick what the binary does rather than configure a role. */
export const commandFlags = {
  // No default: the role must be chosen explicitly.
  role: {
    name: "role",
    boolean: false,
    defaultText: "",
    typeName: roles.join("|"),
    expected: `one of ${roles.join(", ")}`,
    help: "Required. Which component to run: mic, nmi, or managed (NMI in managed mode, namespaced).",
    schema: v.picklist(roles),
  } satisfies FlagSpec<RoleName>,
  validateConfig: boolFlag(
    "validate-config",
    false,
    "Parse flags and environment, print the effective configuration as JSON on stdout (secrets redacted) and exit.",
  ),
  version: boolFlag("version", false, "Print the version, commit and build date, then exit."),
  help: boolFlag("help", false, "Show this help (-h works too)."),
};

export const globalFlags = {
  customUserAgent: stringFlag(
    "custom-user-agent",
    "",
    "Text appended, after a space, to the User-Agent of Kubernetes, ARM and AAD requests.",
  ),
  enableProfile: boolFlag(
    "enableProfile",
    false,
    "Accepted for compatibility and ignored: pod-identity never serves pprof or any profiling endpoint.",
  ),
};

const ignoredKlog = "klog flag, accepted for compatibility and ignored (logs always go to stderr).";

export const loggingFlags = {
  format: choiceFlag("log-format", "text", ["text", "json"] as const, "Log line format on stderr: text or json."),
  verbosity: intFlag(
    "v",
    0,
    "Log verbosity, as klog's -v: 0-3 info, 4-5 adds debug, 6 and above adds trace. -v and --v both work.",
    { min: 0, max: 2147483647 },
  ),
  vmodule: stringFlag("vmodule", "", "klog per-file verbosity; accepted for compatibility and ignored."),
  logtostderr: boolFlag("logtostderr", true, ignoredKlog),
  alsologtostderr: boolFlag("alsologtostderr", false, ignoredKlog),
  logDir: stringFlag("log_dir", "", ignoredKlog),
  logFile: stringFlag("log_file", "", ignoredKlog),
  logFileMaxSize: intFlag("log_file_max_size", 1800, ignoredKlog, { min: 0 }),
  logBacktraceAt: stringFlag("log_backtrace_at", "", ignoredKlog),
  stderrthreshold: severityFlag("stderrthreshold", "2", ignoredKlog),
  addDirHeader: boolFlag("add_dir_header", false, ignoredKlog),
  skipHeaders: boolFlag("skip_headers", false, ignoredKlog),
  skipLogHeaders: boolFlag("skip_log_headers", false, ignoredKlog),
  oneOutput: boolFlag("one_output", false, ignoredKlog),
};
