import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
  END_MARKER,
  findSection,
  flagTable,
  readmePath,
  renderConfigReference,
  START_MARKER,
  withSection,
} from "../../scripts/gen-config-reference.ts";
import { stringFlag } from "../../src/config/flag-spec.ts";
import { allFlagsByName } from "../../src/config/role-tables.ts";
import { waitFlags } from "../../src/config/wait-flags.ts";

const readme = readFileSync(readmePath, "utf8");

/** Cells of a Markdown table row, splitting on pipes that are not escaped. */
function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\||\|$/g, "")
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());
}

describe("README", () => {
  test("opens with the title and then, first of all, the two commands", () => {
    const lines = readme.split("\n");
    expect(lines[0]).toBe("# pod-identity");
    const firstFence = readme.indexOf("```");
    const nonBlankBefore = readme
      .slice(0, firstFence)
      .split("\n")
      .filter((line) => line.trim() !== "");
    expect(nonBlankBefore).toEqual(["# pod-identity"]);
    const block = /^```sh\n([\s\S]*?)\n```/m.exec(readme.slice(firstFence));
    expect(block?.[1]).toBe("npm install && npm run demo\nnpm install && npm test");
  });

  test("its configuration reference is what the flag schemas generate (run: bun scripts/gen-config-reference.ts --write)", () => {
    const { start, end } = findSection(readme);
    expect(readme.slice(start, end)).toBe(`\n${renderConfigReference()}\n`);
  });
});

describe("generated configuration reference", () => {
  const section = renderConfigReference();
  const rows = section.split("\n").filter((line) => line.startsWith("| `--"));

  test("lists every flag any role or `wait` accepts", () => {
    const listed = new Set(rows.map((row) => cells(row)[0]));
    for (const name of [...allFlagsByName.keys(), ...Object.values(waitFlags).map((spec) => spec.name)]) {
      expect(listed.has(`\`--${name}\``)).toBe(true);
    }
  });

  test("every flag row has exactly four cells, even when a type or help text holds a pipe", () => {
    expect(rows.some((row) => row.includes("\\|"))).toBe(true);
    for (const row of rows) expect(cells(row)).toHaveLength(4);
  });

  test("shows each flag's default and type as the schema declares them", () => {
    const port = rows.find((row) => row.startsWith("| `--nmi-port` |"));
    expect(port && cells(port)).toEqual([
      "`--nmi-port`",
      "port",
      "`2579`",
      "Port of the token server (the DNAT target for pod IMDS traffic).",
    ]);
    const grace = rows.find((row) => row.startsWith("| `--unassign-grace-period` |"));
    expect(grace && cells(grace).slice(1, 3)).toEqual(["duration", "`30s`"]);
  });

  test("renders an empty default visibly and escapes pipes inside help text", () => {
    const [, , row] = flagTable({ example: stringFlag("example", "", "a | b") });
    expect(row).toBe('| `--example` | string | `""` | a \\| b |');
  });

  test("replacing the section keeps the markers and the text around them, and is idempotent", () => {
    const sample = `intro\n${START_MARKER}\nstale\n${END_MARKER}\noutro\n`;
    const once = withSection(sample, "fresh");
    expect(once).toBe(`intro\n${START_MARKER}\nfresh\n${END_MARKER}\noutro\n`);
    expect(withSection(once, "fresh")).toBe(once);
  });

  test("a README without markers, or with two sections, is refused", () => {
    expect(() => findSection("no markers here")).toThrow();
    const twice = `${START_MARKER}\n${END_MARKER}\n${START_MARKER}\n${END_MARKER}\n`;
    expect(() => findSection(twice)).toThrow();
  });
});
