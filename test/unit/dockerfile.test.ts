// The Dockerfile, parsed (no container engine here): a build stage that compiles the binary, a slim
// Debian runtime with iptables, conntrack and CA certificates, a non-root user, an exec-form
// ENTRYPOINT, and a .dockerignore that keeps what the build copies.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  base: string;
  name?: string;
  instructions: Instruction[];
}

/** Instructions in order: comments dropped, backslash continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    if (pending !== "" && line.startsWith("#")) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    const match = /^(\w+)\s+(.*)$/s.exec(full);
    if (match?.[1] && match[2] !== undefined) instructions.push({ keyword: match[1].toUpperCase(), args: match[2] });
  }
  return instructions;
}

function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const [base = "", as, name] = instruction.args.split(/\s+/).filter((word) => !word.startsWith("--"));
      stages.push({ base, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

function args(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

/** Whether .dockerignore lets `path` into the build context (last matching pattern wins). */
function inContext(path: string, patterns: string[]): boolean {
  let included = true;
  for (const pattern of patterns) {
    const negated = pattern.startsWith("!");
    const glob = new Bun.Glob((negated ? pattern.slice(1) : pattern).replace(/\/$/, ""));
    const segments = path.split("/");
    const matches = segments.some((_, index) => glob.match(segments.slice(0, index + 1).join("/")));
    if (matches) included = negated;
  }
  return included;
}

const stages = stagesOf(parseDockerfile(readFileSync(resolve(root, "Dockerfile"), "utf8")));
const runtime = stages.at(-1) as Stage;
const build = stages[0] as Stage;
const ignorePatterns = readFileSync(resolve(root, ".dockerignore"), "utf8")
  .split("\n")
  .map((line) => line.trim())
  .filter((line) => line !== "" && !line.startsWith("#"));

describe("Dockerfile", () => {
  test("has a named build stage that compiles dist/pod-identity with the project's build script", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build.name).toBeTruthy();
    const runs = args(build, "RUN").join("\n");
    expect(runs).toMatch(/scripts\/build\.ts|npm run build/);
    expect(runs).toMatch(/npm (ci|install)|bun install/);
    // Compiled by Bun (the locked devDependency), and the result is run once before it is shipped.
    expect(runs).toMatch(/\bbun\b[^\n]*scripts\/build\.ts/);
    expect(runs).toMatch(/dist\/pod-identity --version/);
  });

  test("the runtime stage takes only the binary: no build toolchain, no source, apt lists removed", () => {
    const copies = args(runtime, "COPY");
    expect(copies).toHaveLength(1);
    expect(copies[0]).toStartWith(`--from=${build.name} `);
    const install = args(runtime, "RUN").join("\n");
    expect(install).not.toMatch(/\b(nodejs|npm|bun)\b/);
    expect(install).toContain("--no-install-recommends");
    expect(install).toContain("rm -rf /var/lib/apt/lists/*");
  });

  test("exposes the ports the roles and the chart use", () => {
    const exposed = args(runtime, "EXPOSE").flatMap((a) => a.split(/\s+/));
    // NMI: token server, probe, metrics; MIC: probe, metrics.
    expect(exposed.sort()).toEqual(["2579", "8080", "8085", "8888", "9090"]);
  });

  test("runs on Debian slim with iptables, conntrack and CA certificates", () => {
    expect(runtime.base).toMatch(/^debian:[\w.-]*slim$/);
    const install = args(runtime, "RUN").join("\n");
    for (const pkg of ["iptables", "conntrack", "ca-certificates"]) {
      expect(install).toMatch(new RegExp(`apt-get install[^\\n]*\\b${pkg}\\b`));
    }
  });

  test("copies the binary from the build stage onto the PATH", () => {
    const copy = args(runtime, "COPY").find((a) => a.includes(`--from=${build.name}`));
    expect(copy).toBeDefined();
    const [, source, destination] = (copy ?? "").split(/\s+/);
    expect(source).toEndWith("dist/pod-identity");
    expect(destination).toBe("/usr/local/bin/pod-identity");
  });

  test("ends as a non-root user with an exec-form ENTRYPOINT of pod-identity", () => {
    const user = args(runtime, "USER").at(-1) ?? "root";
    const uid = user.split(":")[0] ?? "";
    expect(uid).toMatch(/^\d+$/); // numeric, so the kubelet can enforce runAsNonRoot
    expect(Number(uid)).toBeGreaterThan(0);
    const entrypoint = args(runtime, "ENTRYPOINT").at(-1) ?? "";
    expect(JSON.parse(entrypoint)).toEqual(["pod-identity"]);
  });

  test("the chart's non-root uid is the image's user", () => {
    const user = args(runtime, "USER").at(-1) ?? "";
    const deployment = readFileSync(resolve(root, "helm/pod-identity/templates/mic-deployment.yaml"), "utf8");
    expect(deployment).toContain(`runAsUser: ${user.split(":")[0]}`);
  });
});

describe(".dockerignore", () => {
  test("lets in every file the build stage copies from the context, and those files exist", () => {
    const sources = args(build, "COPY")
      .filter((a) => !a.startsWith("--from"))
      .flatMap((a) => a.split(/\s+/).slice(0, -1));
    expect(sources).toContain("src");
    for (const source of sources) {
      expect({ source, exists: existsSync(resolve(root, source)) }).toEqual({ source, exists: true });
      expect({ source, inContext: inContext(source, ignorePatterns) }).toEqual({ source, inContext: true });
    }
  });

  test("keeps out the repository's history, dependencies, build output and tests", () => {
    for (const path of [".git", "node_modules", "dist", "test", "emulators", "src/roles/x.test.ts"]) {
      expect({ path, inContext: inContext(path, ignorePatterns) }).toEqual({ path, inContext: false });
    }
  });
});
