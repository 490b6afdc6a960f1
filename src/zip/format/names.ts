import { NpzError } from '../../errors.js';
import { FLAG_UTF8_NAME } from './records.js';

// Upper half of code page 437, as Python's 'cp437' codec (the np.load reader) decodes it; the lower half is ASCII.
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
/** ASCII is UTF-8: a long ASCII name decodes the same through the (non-throwing) UTF-8 decoder. */
const asciiDecoder = new TextDecoder('utf-8');

/** Decodes a member name the way CPython's zipfile does: UTF-8 when bit 11 is set, else cp437 (the zip spec's default). */
export function decodeZipName(raw: Uint8Array, flags: number): string {
  if ((flags & FLAG_UTF8_NAME) !== 0) {
    try {
      return utf8Decoder.decode(raw);
    } catch (cause) {
      throw new NpzError('ERR_ZIP_CENTRAL_DIRECTORY', `member name is flagged UTF-8 but is not valid UTF-8`, { cause });
    }
  }
  let ascii = true;
  for (const byte of raw) {
    if (byte >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return raw.length <= 1024 ? String.fromCharCode.apply(null, raw as unknown as number[]) : asciiDecoder.decode(raw);
  let name = '';
  for (const byte of raw) name += byte < 0x80 ? String.fromCharCode(byte) : CP437_HIGH[byte - 0x80];
  return name;
}
