// Replaced at build time by scripts/build.ts (Bun.build `define`); sources run with `bun run` report dev values.
declare const __POD_IDENTITY_VERSION__: string | undefined;
declare const __POD_IDENTITY_COMMIT__: string | undefined;
declare const __POD_IDENTITY_BUILD_DATE__: string | undefined;

export const version = {
  version: typeof __POD_IDENTITY_VERSION__ === "string" ? __POD_IDENTITY_VERSION__ : "0.0.0-dev",
  commit: typeof __POD_IDENTITY_COMMIT__ === "string" ? __POD_IDENTITY_COMMIT__ : "dev",
  buildDate: typeof __POD_IDENTITY_BUILD_DATE__ === "string" ? __POD_IDENTITY_BUILD_DATE__ : "dev",
};

/** The original's User-Agent shape: `<product>/<MIC|NMI>/<version>/<commit>/<date>[ <custom>]`. */
export function userAgent(component: "MIC" | "NMI", custom = ""): string {
  const base = `pod-identity/${component}/${version.version}/${version.commit}/${version.buildDate}`;
  return custom ? `${base} ${custom}` : base;
}

export function versionLine(): string {
  return `pod-identity ${version.version} (commit ${version.commit}, built ${version.buildDate})`;
}
