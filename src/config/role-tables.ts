// Which flag tables each role reads. A flag table maps a config property name to its flag spec.
import type { FlagSpec } from "./flag-spec.ts";
import { commandFlags, globalFlags, loggingFlags, type RoleName } from "./flags-common.ts";
import { micFlags } from "./flags-mic.ts";
import { nmiFlags } from "./flags-nmi.ts";

export type FlagTable = Readonly<Record<string, FlagSpec<unknown>>>;

export interface FlagSection {
  readonly title: string;
  readonly table: FlagTable;
}

const sharedSections: readonly FlagSection[] = [
  { title: "Flags for every role", table: { ...commandFlags, ...globalFlags } },
  { title: "Logging flags (klog's, kept for compatibility)", table: loggingFlags },
];

export const roleSections: Readonly<Record<RoleName, readonly FlagSection[]>> = {
  mic: [{ title: "MIC flags", table: micFlags }, ...sharedSections],
  nmi: [{ title: "NMI flags", table: nmiFlags }, ...sharedSections],
  managed: [{ title: "NMI flags (managed mode)", table: nmiFlags }, ...sharedSections],
};

/** Every flag any role knows, by command-line name (to split argv before the role is known). */
export const allFlagsByName: ReadonlyMap<string, FlagSpec<unknown>> = new Map(
  [micFlags, nmiFlags, commandFlags, globalFlags, loggingFlags].flatMap((table) =>
    Object.values(table).map((spec) => [spec.name, spec] as const),
  ),
);

export function roleKnowsFlag(role: RoleName, name: string): boolean {
  return roleSections[role].some((section) => Object.values(section.table).some((spec) => spec.name === name));
}
