// Flags MIC accepts for compatibility with aad-pod-identity but does not act on, and what it says
// about them at start (pure, so the wording is tested without a process).
import type { MicConfig } from "../../config/types.ts";

export interface Notice {
  level: "warn" | "info";
  message: string;
}

/** What MIC says at start about flags it accepts for compatibility but does not act on. */
export function compatibilityNotices(config: Pick<MicConfig, "enableTypeUpgrade" | "enableScaleFeatures">): Notice[] {
  const notices: Notice[] = [];
  if (config.enableTypeUpgrade)
    notices.push({
      level: "warn",
      message:
        "--enable-type-upgrade has no effect: the one-time pre-v1.6 rewrite of AzureIdentity, AzureIdentityBinding " +
        "and AzurePodIdentityException fields is not performed (the v1 CRDs prune the old PascalCase fields such as " +
        "ClientID, ResourceID and Selector, so re-apply such objects with camelCase fields); " +
        "pass --enable-type-upgrade=false to silence this warning",
    });
  if (config.enableScaleFeatures)
    notices.push({ level: "info", message: "--enableScaleFeatures is deprecated for MIC and has no effect" });
  return notices;
}
