// An NMI server configuration for tests and benches that build the token server themselves: the
// original's defaults (Metadata header required, /metadata/instance not blocked, requests held rather
// than answered 503 + Retry-After, MIC in kube-system), with what a caller needs changed.
import type { NmiServerConfig } from "../../src/roles/nmi/server.ts";

export function nmiServerConfig(overrides: Partial<NmiServerConfig> = {}): NmiServerConfig {
  return {
    metadataHeaderRequired: true,
    blockInstanceMetadata: false,
    setRetryAfterHeader: false,
    micNamespace: "kube-system",
    maxHeaderBytes: 8192,
    ...overrides,
  };
}
