// Client IDs in logs and error texts are shown as the original did: the first 4 and last 4 characters
// around "##### REDACTED #####". Shorter texts (fewer than 8 characters), or ones whose ends contain
// whitespace, are returned unchanged, exactly as the original's regular expression behaved.
const clientIdShape = /^(\S{4})[\s\S]*(\S{4})$/;

export function redactClientId(clientId: string): string {
  return clientId.replace(clientIdShape, "$1##### REDACTED #####$2");
}
