import { describe, expect, test } from "bun:test";
import { frameResponse } from "../../bench/support/http-framing.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");

describe("bench HTTP/1.1 response framing", () => {
  test("a Content-Length response ends after its body; the next response's bytes are not counted", () => {
    const first = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    expect(frameResponse(bytes(`${first}HTTP/1.1 404 Not`))).toEqual({ status: 200, length: first.length });
  });

  test("an incomplete head or body needs more bytes", () => {
    expect(frameResponse(bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"))).toBeNull();
    expect(frameResponse(bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"))).toBeNull();
  });

  test("chunked bodies end at the zero chunk and its empty line", () => {
    const whole = "HTTP/1.1 429 Too Many\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    expect(frameResponse(bytes(whole))).toEqual({ status: 429, length: whole.length });
    expect(frameResponse(bytes(whole.slice(0, -3)))).toBeNull();
  });

  test("header names are case-insensitive and 204 needs no length", () => {
    expect(frameResponse(bytes("HTTP/1.1 204 No Content\r\n\r\n"))).toEqual({ status: 204, length: 27 });
    expect(frameResponse(bytes("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"))?.status).toBe(200);
  });

  test("what cannot be framed is an error, not a hang", () => {
    expect(() => frameResponse(bytes("SSH-2.0-x\r\n\r\n"))).toThrow();
    expect(() => frameResponse(bytes("HTTP/1.1 200 OK\r\nX: y\r\n\r\nbody"))).toThrow(/neither/);
  });
});
