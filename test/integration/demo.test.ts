// `npm run demo` (scripts/demo.ts) end to end: the compiled binary's MIC and NMI against the emulated
// world. The bound pod's token must name the bound identity and the other pod must be refused; until
// the MIC and NMI roles are in the build, the demo must say which are missing instead.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");
const registry = readFileSync(resolve(root, "src/roles/registry.ts"), "utf8");
const hasRole = (role: string) => new RegExp(`^\\s*${role}: \\(\\) => import\\(`, "m").test(registry);
const rolesInBuild = hasRole("mic") && hasRole("nmi");

async function runDemo(): Promise<{ code: number; out: string }> {
  const child = Bun.spawn([process.execPath, resolve(root, "scripts/demo.ts")], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { code: await child.exited, out: out + err };
}

describe("npm run demo", () => {
  test.skipIf(!rolesInBuild)(
    "assigns the bound identity, the labelled pod's token names it, the other pod is refused",
    async () => {
      const { code, out } = await runDemo();
      expect(out).toContain("2 replicas running");
      expect(out).toMatch(/AzureAssignedIdentity \S+: Created/);
      expect(out).toMatch(/AzureAssignedIdentity \S+: Assigned/);
      expect(out).toContain("demo-identity is on scale set aks-nodepool1-12345678-vmss");
      expect(out).toMatch(/pod demo-app \(127\.0\.0\.11\) → 200/);
      expect(out).toContain("= demo-identity (clientId");
      expect(out).toMatch(/pod other-app \(127\.0\.0\.12\) → (4\d\d|5\d\d)/);
      expect(out).toContain("removed the temp files");
      expect(code).toBe(0);
    },
    30_000,
  );

  test.if(!rolesInBuild)(
    "names the missing roles while MIC or NMI is not in the build",
    async () => {
      const { code, out } = await runDemo();
      expect(out).toMatch(/(MIC|NMI)( and (MIC|NMI))? roles? (is|are) not part of this build yet/);
      expect(code).toBe(1);
    },
    20_000,
  );
});
