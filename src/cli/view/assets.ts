import { readFileSync } from 'node:fs';

/**
 * The page: plain HTML, CSS and two JavaScript modules shipped in the package (copied next to this file by the
 * build), read once at start. Only these names are ever served; no request path reaches the file system.
 */

const CONTENT_TYPES = {
  'app.js': 'text/javascript; charset=utf-8',
  'format.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
} as const;

export type AssetName = keyof typeof CONTENT_TYPES;

export interface PageAssets {
  /** index.html with the token in place. */
  page: string;
  asset(name: string): { body: string; contentType: string } | undefined;
}

function read(name: string): string {
  return readFileSync(new URL(`./assets/${name}`, import.meta.url), 'utf8');
}

export function loadAssets(token: string): PageAssets {
  const bodies = new Map(Object.entries(CONTENT_TYPES).map(([name, contentType]) => [name, { body: read(name), contentType }]));
  // The token is base64url ([A-Za-z0-9_-]), so it needs no escaping inside HTML attributes.
  const page = read('index.html').replaceAll('__TOKEN__', token);
  return {
    page,
    asset: (name) => (Object.hasOwn(CONTENT_TYPES, name) ? bodies.get(name) : undefined),
  };
}
