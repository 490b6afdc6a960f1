import { NpzError } from '../errors.js';

/** URL rules of the HTTP source: which inputs are URLs, how one is printed, and where its credentials go. */

/** The URL with user info and query string removed: safe in messages and logs. */
export function redactUrl(url: string | URL): string {
  try {
    const parsed = new URL(String(url));
    const query = parsed.search === '' ? '' : '?…';
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}${query}`;
  } catch {
    return '<invalid URL>';
  }
}

export function isHttpUrl(input: unknown): input is string | URL {
  if (input instanceof URL) return input.protocol === 'http:' || input.protocol === 'https:';
  return typeof input === 'string' && /^https?:\/\//i.test(input);
}

/** Parses an `http:` or `https:` URL (a copy: the caller's URL object is left alone), or refuses it. */
export function parseHttpUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw new NpzError('ERR_INVALID_ARGUMENT', `not a valid URL: ${redactUrl(String(url))}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new NpzError('ERR_INVALID_ARGUMENT', `httpSource takes http: or https: URLs, got ${parsed.protocol}`);
  }
  return parsed;
}

/**
 * Moves user info out of `url` (which it edits) into a Basic `authorization` header, the way a browser sends it;
 * the URL kept (and ever printed) is then without it.
 */
export function takeCredentials(url: URL): Array<[string, string]> {
  if (url.username === '' && url.password === '') return [];
  const pair = new TextEncoder().encode(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`);
  let binary = '';
  for (const byte of pair) binary += String.fromCharCode(byte);
  url.username = '';
  url.password = '';
  return [['authorization', `Basic ${btoa(binary)}`]];
}
