// Which handler answers a request, by path, following the original's gorilla/mux routes in order (§5.2).
export type Route =
  | { kind: "token" }
  | { kind: "invalid-token-path" }
  | { kind: "host-token" }
  | { kind: "blocked-instance" }
  | { kind: "proxy" }
  | { kind: "redirect"; location: string }
  | { kind: "bad-path" };

export interface ClassifyOptions {
  blockInstanceMetadata: boolean;
}

// "metadata" alone is case-insensitive, as in the original's `{(?i)metadata}` route variable.
const TOKEN_PREFIX = /^\/[mM][eE][tT][aA][dD][aA][tT][aA]\/identity\/oauth2\/token/;
// Catches mangled spellings of the token path that would otherwise be proxied to IMDS unmediated. The
// original's regex was case-sensitive after "metadata" and needed forward slashes; this one is wholly
// case-insensitive and accepts backslashes too, so `/metadata/Identity/oauth2/token` and
// `/metadata\\identity\\oauth2\\token` get the 400 instead of reaching IMDS (a deliberate tightening).
const TOKEN_LOOKALIKE = /[/\\]metadata[/\\]+identity(.*?)oauth2(.*?)token/i;
const HOST_TOKEN_PREFIX = /^\/host\/token/;
const INSTANCE_PREFIX = /^\/[mM][eE][tT][aA][dD][aA][tT][aA]\/instance/;

// "//", "/./", "/../", or a path ending in "/." or "/..".
const UNCLEAN_SEGMENT = /\/\/|\/\.\.?(?:\/|$)/;

/**
 * The path as gorilla/mux cleans it: `.`/`..` resolved, repeated slashes collapsed, a trailing slash
 * kept. mux answers a non-clean path with a 301 to the clean one; so do we.
 */
export function cleanPath(path: string): string {
  if (path === "") return "/";
  // The common case (a rooted path without empty, "." or ".." segments) is already clean.
  if (path.charCodeAt(0) === 47 && !UNCLEAN_SEGMENT.test(path)) return path;
  const rooted = path.startsWith("/") ? path : `/${path}`;
  const out: string[] = [];
  for (const segment of rooted.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") out.pop();
    else out.push(segment);
  }
  let cleaned = `/${out.join("/")}`;
  if (rooted.endsWith("/") && cleaned !== "/") cleaned += "/";
  return cleaned;
}

/** Decodes percent-escapes as Go's URL.Path does; null when the escapes are malformed. */
export function decodePath(rawPath: string): string | null {
  try {
    return decodeURIComponent(rawPath);
  } catch {
    return null;
  }
}

/**
 * Route for a raw (still percent-encoded) request path. Matching happens on the decoded path, as the
 * original matched `URL.Path`; the query string is not part of `rawPath`.
 */
export function classifyPath(rawPath: string, options: ClassifyOptions): Route {
  // Most paths carry no escapes; decoding them is a copy.
  const path = rawPath.includes("%") ? decodePath(rawPath) : rawPath;
  if (path === null || path.includes("\0")) return { kind: "bad-path" };
  const cleaned = cleanPath(path);
  if (cleaned !== path) return { kind: "redirect", location: encodeURI(cleaned) };
  if (TOKEN_PREFIX.test(path)) return { kind: "token" };
  if (TOKEN_LOOKALIKE.test(path)) return { kind: "invalid-token-path" };
  if (HOST_TOKEN_PREFIX.test(path)) return { kind: "host-token" };
  if (options.blockInstanceMetadata && INSTANCE_PREFIX.test(path)) return { kind: "blocked-instance" };
  return { kind: "proxy" };
}

/** The original requires the header value to be exactly `true` (header names are case-insensitive). */
export function hasMetadataHeader(value: string | null | undefined): boolean {
  return value === "true";
}
