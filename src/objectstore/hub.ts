import { NpzError } from '../errors.js';
import type { Refusal } from './exchange.js';
import { encodeKeyPath, type ObjectLocation } from './url.js';

/**
 * The Hugging Face Hub: a file of a repo at a revision is read from its `resolve/` URL, which answers the small files
 * itself and the large ones with a 302 to a CDN URL carrying a signed query. The token goes to the Hub only (see
 * src/http/authorize.ts). The Hub says why it refuses in `X-Error-Code` and `X-Error-Message` headers.
 */

export const HUB_ENDPOINT = 'https://huggingface.co';

type HubLocation = Extract<ObjectLocation, { store: 'hf' }>;

/** `ENDPOINT/[datasets/|spaces/]owner/repo/resolve/REVISION/path`, as huggingface_hub's `hf_hub_url` builds it. */
export function hubResolveUrl(endpoint: string, location: HubLocation): URL {
  const prefix = location.kind === 'dataset' ? 'datasets/' : location.kind === 'space' ? 'spaces/' : '';
  return new URL(`${endpoint.replace(/\/+$/, '')}/${prefix}${location.repo}/resolve/${encodeURIComponent(location.revision)}/${encodeKeyPath(location.path)}`);
}

/** A refusal as an ERR_REMOTE_STATUS naming the repo and file (never the token). */
export function hubRefusalError(label: string, location: HubLocation, refusal: Refusal, tokenSent: boolean, scrub: (text: string) => string = (text) => text): NpzError {
  const { status } = refusal;
  const code = refusal.header('x-error-code') ?? undefined;
  const detail = refusal.header('x-error-message');
  const quoted = `HTTP ${status}${code === undefined ? '' : ` ${code}`}${detail === null ? '' : `: ${scrub(detail).slice(0, 300)}`}`;
  const noToken = tokenSent ? '' : '; no token was sent (set HF_TOKEN or log in with `hf auth login`)';
  const repo = `${location.kind === 'model' ? 'repo' : location.kind} ${location.repo}`;
  let message: string;
  if (code === 'GatedRepo') {
    message = `${label}: ${repo} is gated: accept its conditions on the Hub with an account whose token is used (${quoted})${noToken}`;
  } else if (code === 'RepoNotFound' || (status === 401 && code === undefined)) {
    message = `${label}: ${repo} was not found, or it is private and the token has no access (${quoted})${noToken}`;
  } else if (code === 'RevisionNotFound') {
    message = `${label}: ${repo} has no revision ${location.revision} (${quoted})`;
  } else if (code === 'EntryNotFound' || status === 404) {
    message = `${label}: ${repo} has no file ${location.path} at revision ${location.revision} (${quoted})`;
  } else if (status === 401 || status === 403) {
    message = `${label}: access to ${repo} was refused (${quoted})${noToken}`;
  } else {
    message = `${label}: the Hub answered ${quoted}`;
  }
  return new NpzError('ERR_REMOTE_STATUS', message, { actual: status });
}
