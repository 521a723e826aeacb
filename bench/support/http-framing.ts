// Finds where one HTTP/1.1 response ends in the bytes read so far from a keep-alive connection, so the
// load client can reuse the connection without a full HTTP stack. Content-Length and chunked bodies.
// Pure: the caller keeps the buffer. It reads bytes in place (no header strings): the generator shares
// the machine's two cores with the server it measures, and every microsecond and allocation it spends
// per response shows up as latency and GC pauses in the numbers it reports.

export interface FramedResponse {
  status: number;
  /** Bytes of the whole response (head and body): where the next response starts. */
  length: number;
}

const CR = 13;
const LF = 10;
const COLON = 58;
const SPACE = 32;
const TAB = 9;
const STATUS_LINE_PREFIX = [72, 84, 84, 80, 47, 49, 46]; // "HTTP/1."

const CONTENT_LENGTH = bytesOf("content-length");
const TRANSFER_ENCODING = bytesOf("transfer-encoding");
const CHUNKED = bytesOf("chunked");

function bytesOf(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** ASCII lower case of one byte. */
function lower(byte: number): number {
  return byte >= 65 && byte <= 90 ? byte + 32 : byte;
}

/** Whether bytes[start, end) equal `word` ignoring ASCII case. */
function equalsIgnoringCase(bytes: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (lower(bytes[start + i] as number) !== word[i]) return false;
  return true;
}

/** Whether bytes[start, end) contain `word` ignoring ASCII case. */
function containsIgnoringCase(bytes: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  for (let at = start; at + word.length <= end; at++)
    if (equalsIgnoringCase(bytes, at, at + word.length, word)) return true;
  return false;
}

/** Index of the next CRLF at or after `from`, or -1. */
function crlfFrom(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 1 < bytes.length; i++) if (bytes[i] === CR && bytes[i + 1] === LF) return i;
  return -1;
}

/** The decimal (or hex) number in bytes[start, end) after trimming blanks; NaN when it is not one. */
function parseNumber(bytes: Uint8Array, start: number, end: number, radix: 10 | 16): number {
  let from = start;
  let to = end;
  while (from < to && (bytes[from] === SPACE || bytes[from] === TAB)) from++;
  while (to > from && (bytes[to - 1] === SPACE || bytes[to - 1] === TAB)) to--;
  if (from === to) return Number.NaN;
  let value = 0;
  for (let i = from; i < to; i++) {
    const digit = digitValue(lower(bytes[i] as number));
    if (digit < 0 || digit >= radix) return Number.NaN;
    value = value * radix + digit;
  }
  return value;
}

function digitValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  if (byte >= 97 && byte <= 102) return byte - 87;
  return -1;
}

function chunkedBodyEnd(bytes: Uint8Array, start: number): number | null {
  let offset = start;
  for (;;) {
    const lineEnd = crlfFrom(bytes, offset);
    if (lineEnd < 0) return null;
    let sizeEnd = offset;
    while (sizeEnd < lineEnd && bytes[sizeEnd] !== 59 /* ; chunk extension */) sizeEnd++;
    const size = parseNumber(bytes, offset, sizeEnd, 16);
    if (!Number.isFinite(size)) throw new Error("malformed chunk size");
    if (size === 0) {
      // Trailers (none expected) end with an empty line.
      const end = headEnd(bytes, lineEnd);
      return end < 0 ? null : end + 4;
    }
    offset = lineEnd + 2 + size + 2;
    if (offset > bytes.length) return null;
  }
}

/** Index of the first CRLF CRLF at or after `from`, or -1. */
function headEnd(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 3 < bytes.length; i++) {
    if (bytes[i] === CR && bytes[i + 1] === LF && bytes[i + 2] === CR && bytes[i + 3] === LF) return i;
  }
  return -1;
}

function statusLine(bytes: Uint8Array, end: number): string {
  return JSON.stringify(new TextDecoder("latin1").decode(bytes.subarray(0, end)));
}

/** The first complete response in `bytes`, or null while more bytes are needed. Throws on a response it cannot frame. */
export function frameResponse(bytes: Uint8Array): FramedResponse | null {
  const end = headEnd(bytes, 0);
  if (end < 0) return null;
  const firstLineEnd = crlfFrom(bytes, 0);
  // "HTTP/1.x NNN"
  const isStatusLine =
    firstLineEnd >= 12 &&
    STATUS_LINE_PREFIX.every((byte, i) => bytes[i] === byte) &&
    (bytes[7] === 48 || bytes[7] === 49) &&
    bytes[8] === SPACE;
  const status = isStatusLine ? parseNumber(bytes, 9, 12, 10) : Number.NaN;
  if (!Number.isInteger(status)) throw new Error(`not an HTTP/1.x status line: ${statusLine(bytes, firstLineEnd)}`);
  const bodyStart = end + 4;
  let contentLength: number | null = null;
  let chunked = false;
  for (let lineStart = firstLineEnd + 2; lineStart < end; ) {
    const lineEnd = crlfFrom(bytes, lineStart);
    let colon = lineStart;
    while (colon < lineEnd && bytes[colon] !== COLON) colon++;
    if (equalsIgnoringCase(bytes, lineStart, colon, CONTENT_LENGTH))
      contentLength = parseNumber(bytes, colon + 1, lineEnd, 10);
    if (equalsIgnoringCase(bytes, lineStart, colon, TRANSFER_ENCODING))
      chunked = containsIgnoringCase(bytes, colon + 1, lineEnd, CHUNKED);
    lineStart = lineEnd + 2;
  }
  if (chunked) {
    const bodyEnd = chunkedBodyEnd(bytes, bodyStart);
    return bodyEnd === null ? null : { status, length: bodyEnd };
  }
  if (contentLength === null) {
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) return { status, length: bodyStart };
    throw new Error(`response ${status} has neither Content-Length nor chunked encoding`);
  }
  if (!Number.isInteger(contentLength)) throw new Error("malformed Content-Length");
  return bytes.length >= bodyStart + contentLength ? { status, length: bodyStart + contentLength } : null;
}
