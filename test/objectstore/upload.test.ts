import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { NpzError } from '../../src/errors.js';
import { uploadSettings } from '../../src/objectstore/options.js';
import { PartUpload, type PartProtocol } from '../../src/objectstore/upload.js';

/** A store that refuses every upload at its start (wrong credentials, no such bucket). */
function refusing(): PartProtocol {
  const refusal = { kind: 'fatal', error: new NpzError('ERR_REMOTE_STATUS', 'access denied') } as const;
  return {
    label: 's3://bucket/key',
    sequential: false,
    partAlignment: 1,
    begin: async () => refusal,
    sendPart: async () => refusal,
    complete: async () => refusal,
    abort: async () => ({ kind: 'done' }),
    close: async () => undefined,
  };
}

describe('PartUpload', () => {
  it('an upload refused at its start leaves no listener on the caller\'s signal, however many saves share it', async () => {
    const controller = new AbortController();
    for (let i = 0; i < 20; i++) {
      const upload = new PartUpload(refusing(), uploadSettings({ retries: 0 }), controller.signal);
      await expect(upload.begin()).rejects.toMatchObject({ code: 'ERR_REMOTE_STATUS' });
    }
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});
