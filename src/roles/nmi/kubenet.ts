// NMI refuses to run on kubenet nodes unless told otherwise (§5.10): on a kubenet bridge a pod with
// NET_RAW can ARP-spoof another pod's IP, and NMI trusts the source IP.
export const KUBENET_MARKER = "--network-plugin=kubenet";
export const KUBENET_REFUSAL =
  "AAD Pod Identity is not supported for Kubenet. Review https://azure.github.io/aad-pod-identity/docs/configure/aad_pod_identity_on_kubenet/ for more details.";

export interface KubenetCheckOptions {
  allowNetworkPluginKubenet: boolean;
  kubeletConfigPath: string;
}

export type KubenetVerdict = { ok: true } | { ok: false; message: string };

/** Pure half: the verdict for the kubelet config's contents (null when it could not be read). */
export function kubenetVerdict(contents: string | null, options: KubenetCheckOptions): KubenetVerdict {
  if (options.allowNetworkPluginKubenet) return { ok: true };
  if (contents === null) return { ok: false, message: `failed to read kubelet config ${options.kubeletConfigPath}` };
  if (contents.includes(KUBENET_MARKER)) return { ok: false, message: KUBENET_REFUSAL };
  return { ok: true };
}

/** Reads the kubelet config (unless allowed) and returns the verdict; an unreadable file is refused. */
export async function checkKubenet(
  options: KubenetCheckOptions,
  readFile: (path: string) => Promise<string> = (path) => Bun.file(path).text(),
): Promise<KubenetVerdict> {
  if (options.allowNetworkPluginKubenet) return { ok: true };
  let contents: string | null;
  try {
    contents = await readFile(options.kubeletConfigPath);
  } catch {
    contents = null;
  }
  return kubenetVerdict(contents, options);
}
