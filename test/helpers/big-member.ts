/**
 * Python (run with `python3 -c`) that writes an npz whose first member is a stored float32 array of `total`
 * data bytes, streamed by CPython's zipfile (zf.open(..., 'w'), forced zip64), followed by a small int32 array.
 * Arguments: OUT TOTAL, with OUT '-' for standard output (a pipe: flag bit 3, zip64 data descriptors). Reports
 * `{"sha256": <of the big array's data>, "offsets": {member: local header offset}}` as JSON on standard output,
 * or on standard error when standard output carries the archive.
 */
export const WRITE_BIG_MEMBER = String.raw`
import hashlib, io, json, sys, zipfile
import numpy as np
out, total = sys.argv[1], int(sys.argv[2])
to_pipe = out == '-'
header = io.BytesIO()
np.lib.format.write_array_header_1_0(header, {'descr': '<f4', 'fortran_order': False, 'shape': (total // 4,)})
block = (np.arange(16 * 1024 * 1024, dtype=np.uint64) * 2654435761 >> 13).astype(np.uint8).tobytes()
digest = hashlib.sha256()
with zipfile.ZipFile(sys.stdout.buffer if to_pipe else out, 'w', allowZip64=True) as zf:
    with zf.open('big.npy', 'w', force_zip64=True) as f:
        f.write(header.getvalue())
        left = total
        while left:
            piece = block[:min(left, len(block))]
            f.write(piece)
            digest.update(piece)
            left -= len(piece)
    small = io.BytesIO()
    np.save(small, np.arange(10, dtype=np.int32))
    zf.writestr('small.npy', small.getvalue())
    offsets = {i.filename: i.header_offset for i in zf.infolist()}
if to_pipe:
    sys.stdout.buffer.flush()
print(json.dumps({'sha256': digest.hexdigest(), 'offsets': offsets}), file=sys.stderr if to_pipe else sys.stdout)
`;
