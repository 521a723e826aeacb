// Finds where one HTTP/1.1 response ends in the bytes read so far from a keep-alive connection, so the
// load client can reuse the connection without a full HTTP stack. Content-Length and chunked bodies.
// Pure: the caller keeps the buffer.

export interface FramedResponse {
  status: number;
  /** Bytes of the whole response (head and body): where the next response starts. */
  length: number;
}

const CRLF_CRLF = Buffer.from("\r\n\r\n");

function chunkedBodyEnd(buffer: Buffer, start: number): number | null {
  let offset = start;
  for (;;) {
    const lineEnd = buffer.indexOf("\r\n", offset);
    if (lineEnd < 0) return null;
    const size = Number.parseInt(buffer.toString("latin1", offset, lineEnd).split(";")[0] ?? "", 16);
    if (!Number.isFinite(size) || size < 0) throw new Error("malformed chunk size");
    if (size === 0) {
      // Trailers (none expected) end with an empty line.
      const end = buffer.indexOf("\r\n\r\n", lineEnd);
      return end < 0 ? null : end + 4;
    }
    offset = lineEnd + 2 + size + 2;
    if (offset > buffer.length) return null;
  }
}

/** The first complete response in `buffer`, or null while more bytes are needed. Throws on a response it cannot frame. */
export function frameResponse(buffer: Buffer): FramedResponse | null {
  const headEnd = buffer.indexOf(CRLF_CRLF);
  if (headEnd < 0) return null;
  const head = buffer.toString("latin1", 0, headEnd);
  const lines = head.split("\r\n");
  const statusMatch = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
  if (!statusMatch) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify(lines[0])}`);
  const status = Number(statusMatch[1]);
  const bodyStart = headEnd + 4;
  let contentLength: number | null = null;
  let chunked = false;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-length") contentLength = Number(value);
    if (name === "transfer-encoding" && value.toLowerCase().includes("chunked")) chunked = true;
  }
  if (chunked) {
    const end = chunkedBodyEnd(buffer, bodyStart);
    return end === null ? null : { status, length: end };
  }
  if (contentLength === null) {
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) return { status, length: bodyStart };
    throw new Error(`response ${status} has neither Content-Length nor chunked encoding`);
  }
  if (!Number.isInteger(contentLength) || contentLength < 0) throw new Error("malformed Content-Length");
  return buffer.length >= bodyStart + contentLength ? { status, length: bodyStart + contentLength } : null;
}
