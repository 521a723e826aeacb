// `npm run bench`: runs every bench in bench/ (each *.ts file here but this one), one after another in its
// own bun process, and prints their tables as they come. Arguments filter by name:
// `npm run bench -- nmi` runs only the benches whose file name contains "nmi".
import { readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { selectBenches } from "./support/bench-selection.ts";

const benchDir = import.meta.dir;
const benches = selectBenches(readdirSync(benchDir), basename(import.meta.path), process.argv.slice(2));
if (benches.length === 0) {
  console.error(`no bench matches ${process.argv.slice(2).join(" ")}`);
  process.exit(1);
}
const failed: string[] = [];
for (const file of benches) {
  console.log(`\n# ${file}\n`);
  const started = performance.now();
  const child = Bun.spawn([process.execPath, join(benchDir, file)], { stdio: ["ignore", "inherit", "inherit"] });
  const code = await child.exited;
  console.log(`\n(${file}: exit ${code}, ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  if (code !== 0) failed.push(file);
}
if (failed.length > 0) {
  console.error(`\nbenches that failed: ${failed.join(", ")}`);
  process.exit(1);
}
