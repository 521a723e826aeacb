// The typed configuration of `pod-identity wait`. Durations are milliseconds, ports numbers.

/** Which identity the token request names; IMDS (and NMI) accept at most one of these parameters. */
export interface WaitIdentitySelector {
  /** The IMDS query parameter. */
  param: "client_id" | "msi_res_id" | "object_id";
  value: string;
}

export interface WaitTokenCheck {
  resource: string;
  /** Base URL of the metadata endpoint, without a trailing slash. */
  metadataUrl: string;
  /** Absent: no identity named, the pod's default one answers. */
  selector?: WaitIdentitySelector;
  /** Expected `appid`/`azp` claim (compared case-insensitively). */
  expectClientId?: string;
  /** Expected `oid` claim (compared case-insensitively). */
  expectObjectId?: string;
}

export interface WaitConfig {
  /** --nmi-host, else $HOST_IP, else 127.0.0.1. */
  nmiHost: string;
  nmiProbePort: number;
  timeoutMs: number;
  intervalMs: number;
  quiet: boolean;
  /** Present with --token. */
  token?: WaitTokenCheck;
}

export interface WaitCommand {
  kind: "wait";
  config: WaitConfig;
}
