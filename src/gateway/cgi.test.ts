import { describe, expect, it } from 'vitest';
import { parseCgiHeaders } from './cgi.js';

describe('parseCgiHeaders', () => {
  it('takes the status from Status: and passes the other headers', () => {
    expect(parseCgiHeaders('Status: 403 Forbidden\r\nContent-Type: text/plain\r\nExpires: Fri, 01 Jan 1980 00:00:00 GMT')).toEqual({
      status: 403,
      headers: { 'content-type': 'text/plain', expires: 'Fri, 01 Jan 1980 00:00:00 GMT' },
    });
    expect(parseCgiHeaders('Content-Type: application/x-git-upload-pack-advertisement\nCache-Control: no-cache')).toEqual({
      status: 200,
      headers: { 'content-type': 'application/x-git-upload-pack-advertisement', 'cache-control': 'no-cache' },
    });
  });

  it('drops malformed names and keeps repeated headers', () => {
    expect(parseCgiHeaders('Bad Name: x\r\nSet-Cookie: a\r\nSet-Cookie: b\r\nStatus: nonsense')).toEqual({ status: 200, headers: { 'set-cookie': ['a', 'b'] } });
  });
});
