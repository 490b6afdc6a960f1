// The static viewer's data source: the same requests as the server's JSON API, answered by a Worker
// (assets/worker.js) that reads the chosen files in the page. The worker refuses a URL on another origin before
// any request (the page's CSP does not bind a worker loaded from a file of its own).

/** Inputs as the worker takes them: a File, or a URL resolved against this page. */
export function inputOf(value) {
  return typeof value === 'string' ? { kind: 'url', url: new URL(value, location.href).href } : { kind: 'file', file: value };
}

class LocalError extends Error {
  constructor(error, status) {
    super(error.message);
    this.code = error.code;
    this.status = status;
  }
}

/**
 * Opens `values` (Files or URL strings: one, or A and B) in a new worker. Resolves with `{ files, bins, request,
 * close }`; `request(path, params, signal, onProgress)` answers as the server's `/api/<path>` does.
 */
export async function openLocal(values, { bins } = {}) {
  const inputs = values.map(inputOf);
  const worker = new Worker(new URL('./worker.js', import.meta.url));
  const pending = new Map();
  let nextId = 1;
  let opened;
  const ready = new Promise((resolve, reject) => {
    opened = { resolve, reject };
  });
  worker.addEventListener('error', (event) => {
    const error = new LocalError({ code: 'ERR_IO', message: `the viewer's worker failed: ${event.message ?? 'it could not start'}` }, 500);
    opened.reject(error);
    for (const request of pending.values()) request.reject(error);
    pending.clear();
  });
  worker.addEventListener('message', ({ data }) => {
    if (data.type === 'opened') return opened.resolve(data);
    const request = pending.get(data.id);
    if (request === undefined) return;
    if (data.type === 'progress') request.onProgress?.(data);
    else {
      pending.delete(data.id);
      if (data.type === 'result') request.resolve(data.result);
      else request.reject(new LocalError(data.error, data.status));
    }
  });
  worker.postMessage({ type: 'open', inputs, ...(bins === undefined ? {} : { bins }) });
  const { files, bins: binsUsed } = await ready;

  function request(path, params = {}, signal, onProgress) {
    return new Promise((resolve, reject) => {
      const id = nextId++;
      const stringParams = Object.fromEntries(Object.entries(params).map(([key, value]) => [key, String(value)]));
      if (signal?.aborted) return reject(signal.reason);
      pending.set(id, { resolve, reject, onProgress });
      signal?.addEventListener(
        'abort',
        () => {
          if (!pending.has(id)) return;
          pending.delete(id);
          worker.postMessage({ type: 'cancel', id });
          reject(signal.reason);
        },
        { once: true },
      );
      worker.postMessage({ type: 'request', id, path, params: stringParams });
    });
  }

  return { files, bins: binsUsed, request, close: () => worker.terminate() };
}
