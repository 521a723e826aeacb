// Which files in bench/ are benches, and which of them a `npm run bench -- <filters>` call runs. Pure.

/** Top-level *.ts files except the runner itself, sorted; with filters, only names containing one. */
export function selectBenches(fileNames: readonly string[], runnerName: string, filters: readonly string[]): string[] {
  return fileNames
    .filter((name) => name.endsWith(".ts") && !name.endsWith(".d.ts") && name !== runnerName)
    .filter((name) => filters.length === 0 || filters.some((filter) => name.includes(filter)))
    .sort();
}
