import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runPython } from './python.js';
import { withTempDir } from './tmp.js';

/** CPython's zipfile as the oracle: it writes members the way np.savez does (force_zip64, 1980 dates). */
const WRITE = String.raw`
import io, json, sys, zipfile
spec = json.load(open(sys.argv[1]))
class Pipe(io.RawIOBase):
    def __init__(self, f): self.f = f
    def writable(self): return True
    def write(self, b): return self.f.write(b)
with open(spec['out'], 'wb') as out:
    fp = out if spec['seekable'] else Pipe(out)
    method = zipfile.ZIP_DEFLATED if spec['compress'] else zipfile.ZIP_STORED
    with zipfile.ZipFile(fp, 'w', compression=method, allowZip64=True) as zf:
        for m in spec['members']:
            with zf.open(m['name'], 'w', force_zip64=True) as f:
                f.write(open(m['path'], 'rb').read())
`;

const INSPECT = String.raw`
import hashlib, json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zf:
    bad = zf.testzip()
    out = []
    for i in zf.infolist():
        data = zf.read(i)
        out.append({'name': i.filename, 'flags': i.flag_bits, 'method': i.compress_type, 'crc': i.CRC,
                    'size': i.file_size, 'csize': i.compress_size, 'offset': i.header_offset,
                    'extra': i.extra.hex(), 'sha256': hashlib.sha256(data).hexdigest()})
    print(json.dumps({'bad': bad, 'entries': out}))
`;

export interface PythonMember {
  name: string;
  data: Uint8Array;
}

export interface PythonEntryInfo {
  name: string;
  flags: number;
  method: number;
  crc: number;
  size: number;
  csize: number;
  offset: number;
  extra: string;
  sha256: string;
}

/** The archive CPython writes for these members, to a real file (`seekable`) or to a pipe-like stream. */
export function pythonZip(members: PythonMember[], options: { seekable: boolean; compress?: boolean }): Uint8Array {
  return withTempDir('python-zip', ({ path: dir }) => {
    const spec = {
      out: join(dir, 'out.zip'),
      seekable: options.seekable,
      compress: options.compress === true,
      members: members.map((member, i) => {
        const path = join(dir, `m${i}.bin`);
        writeFileSync(path, member.data);
        return { name: member.name, path };
      }),
    };
    const specPath = join(dir, 'spec.json');
    writeFileSync(specPath, JSON.stringify(spec));
    runPython(WRITE, [specPath]);
    return new Uint8Array(readFileSync(spec.out));
  });
}

/** What CPython's zipfile reads back (after testzip, which checks every CRC). */
export function pythonInspect(archive: Uint8Array): { bad: string | null; entries: PythonEntryInfo[] } {
  return withTempDir('python-zip', ({ path: dir }) => {
    const path = join(dir, 'in.zip');
    writeFileSync(path, archive);
    return JSON.parse(runPython(INSPECT, [path])) as { bad: string | null; entries: PythonEntryInfo[] };
  });
}
