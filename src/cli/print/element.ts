import { bfloat16BitsToNumber, float16BitsToNumber, type DType } from '../../index.js';
import type { Element } from './array-print.js';

/** The element of `dtype` at `offset` of little-endian data, as the printer takes it. */
export function elementAt(dtype: DType, view: DataView, offset: number): Element {
  switch (dtype) {
    case 'bool':
      return view.getUint8(offset) !== 0;
    case 'int8':
      return view.getInt8(offset);
    case 'uint8':
      return view.getUint8(offset);
    case 'int16':
      return view.getInt16(offset, true);
    case 'uint16':
      return view.getUint16(offset, true);
    case 'int32':
      return view.getInt32(offset, true);
    case 'uint32':
      return view.getUint32(offset, true);
    case 'int64':
      return view.getBigInt64(offset, true);
    case 'uint64':
      return view.getBigUint64(offset, true);
    case 'float16':
      return float16BitsToNumber(view.getUint16(offset, true));
    case 'bfloat16':
      return bfloat16BitsToNumber(view.getUint16(offset, true));
    case 'float32':
      return view.getFloat32(offset, true);
    case 'float64':
      return view.getFloat64(offset, true);
    case 'complex64':
      return [view.getFloat32(offset, true), view.getFloat32(offset + 4, true)];
    case 'complex128':
      return [view.getFloat64(offset, true), view.getFloat64(offset + 8, true)];
  }
}
