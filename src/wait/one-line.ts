// Server answers end up in a single log line: collapse whitespace and cap the length, so a large or
// multi-line body cannot flood an init container's log.
export function oneLine(text: string, maxLength = 200): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= maxLength ? flat : `${flat.slice(0, maxLength - 3)}...`;
}
