// Loaded by the test page as a module: npz-stream/browser from /dist/, with no bundler, exactly as a page would.
import * as lib from '/dist/browser/index.js';
import * as summary from './summary.js';

function picked(name, input = 'picker') {
  const file = [...document.getElementById(input).files].find((candidate) => candidate.name === name);
  if (file === undefined) throw new Error(`${name} was not chosen`);
  return file;
}

const fileUrl = (name, route = 'files') => new URL(`/${route}/${encodeURIComponent(name)}`, location.href).href;

/** The input a test names: a chosen File, the file's URL, or a stream of either. */
async function inputOf(name, source) {
  switch (source) {
    case 'file':
      return picked(name);
    case 'url':
      return fileUrl(name);
    case 'file-stream':
      return picked(name).stream();
    case 'url-body':
      return (await fetch(fileUrl(name))).body;
    case 'bytes':
      return new Uint8Array(await picked(name).arrayBuffer());
    default:
      throw new Error(`unknown source ${source}`);
  }
}

async function withFile(file, work) {
  try {
    return await work(file);
  } finally {
    await file.close();
  }
}

window.npzTest = {
  lib,
  summary,
  picked,
  fileUrl,
  inputOf,
  async openNpz(name, source, options = {}) {
    return withFile(await lib.openNpz(await inputOf(name, source), options), (file) => summary.summarizeFile(file));
  },
  async slices(name, source, format) {
    const open = format === 'safetensors' ? lib.openSafetensors : lib.openNpz;
    return withFile(await open(await inputOf(name, source)), (file) => summary.summarizeSlices(file));
  },
  async readNpz(name, source, options = {}) {
    return summary.summarizePairs(lib.readNpz(await inputOf(name, source), options));
  },
  async streamNpz(name, source, options = {}) {
    return summary.summarizeStream(lib.streamNpz(await inputOf(name, source), options));
  },
  async openSafetensors(name, source) {
    return withFile(await lib.openSafetensors(await inputOf(name, source)), (file) => summary.summarizeFile(file));
  },
  async readSafetensors(name, source) {
    return summary.summarizePairs(lib.readSafetensors(await inputOf(name, source)));
  },
  async badNpz(name) {
    return {
      open: await summary.openAndReadAll(lib.openNpz, picked(name)),
      url: await summary.openAndReadAll(lib.openNpz, fileUrl(name)),
      read: await summary.drainCode(lib.readNpz(picked(name))),
      stream: await summary.drainCode(lib.readNpz(picked(name).stream())),
      streamEntries: await summary.drainCode(lib.streamNpz(picked(name).stream())),
    };
  },
  async badSafetensors(name) {
    return {
      open: await summary.openAndReadAll(lib.openSafetensors, picked(name)),
      url: await summary.openAndReadAll(lib.openSafetensors, fileUrl(name)),
      read: await summary.drainCode(lib.readSafetensors(picked(name))),
    };
  },
  code: (work) => summary.codeOf(work),
};
window.npzTestReady = true;
