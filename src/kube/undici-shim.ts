// Bun resolves `import ... from "undici"` to a built-in stub whose Agent ignores every option, so
// client-node's kubeconfig TLS settings (CA, client cert/key, skip-verify) would be silently dropped.
// The build and the test/run preload rewrite client-node's undici imports to this module, which
// keeps the options and maps them onto Bun's native fetch `tls` option.

type ConnectOptions = {
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
  rejectUnauthorized?: boolean;
  servername?: string;
};

export class Agent {
  readonly connect: ConnectOptions;
  constructor(opts: { connect?: ConnectOptions | ((...args: unknown[]) => unknown) } = {}) {
    this.connect = typeof opts.connect === "object" && opts.connect !== null ? opts.connect : {};
  }
}

export class ProxyAgent extends Agent {
  constructor(opts: { uri?: string; connect?: ConnectOptions; requestTls?: ConnectOptions } = {}) {
    super({ connect: { ...opts.requestTls, ...opts.connect } });
  }
}

function tlsFrom(connect: ConnectOptions): Record<string, unknown> | undefined {
  const tls: Record<string, unknown> = {};
  if (connect.ca !== undefined) tls.ca = connect.ca;
  if (connect.cert !== undefined) tls.cert = connect.cert;
  if (connect.key !== undefined) tls.key = connect.key;
  if (connect.passphrase !== undefined) tls.passphrase = connect.passphrase;
  if (connect.rejectUnauthorized !== undefined) tls.rejectUnauthorized = connect.rejectUnauthorized;
  if (connect.servername !== undefined) tls.serverName = connect.servername;
  return Object.keys(tls).length > 0 ? tls : undefined;
}

export function fetch(input: string | URL | Request, init: RequestInit & { dispatcher?: unknown } = {}) {
  const { dispatcher, ...rest } = init;
  const tls = dispatcher instanceof Agent ? tlsFrom(dispatcher.connect) : undefined;
  return globalThis.fetch(input, tls ? ({ ...rest, tls } as RequestInit) : rest);
}

export const Headers = globalThis.Headers;
export const Request = globalThis.Request;
export const Response = globalThis.Response;
export const FormData = globalThis.FormData;
