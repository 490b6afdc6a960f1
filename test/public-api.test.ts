/**
 * The public surface, pinned: every name the main entry and the `npz-stream/paligemma` subpath export, with its
 * kind, read by the TypeScript compiler from the sources. Adding, removing or re-kinding an export changes this
 * list, so a change to the surface is a visible diff in review rather than a side effect of a refactor.
 * Issue 21 added the one file interface (Array*) and saveNpy, and removed parseShardSize (a CLI parser).
 * Slices added sliceShape, formatSlice, Slice*, ShardOptions and ReadStats.
 * Object stores added the types of their options (RemoteOptions and the per-store ones).
 */
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as main from '../src/index.js';
import * as paligemma from '../src/paligemma/index.js';
import * as browser from '../src/browser/index.js';

function exportedKinds(entry: string): string[] {
  const path = fileURLToPath(new URL(entry, import.meta.url));
  const program = ts.createProgram([path], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(path)!)!;
  return checker
    .getExportsOfModule(moduleSymbol)
    .map((symbol) => {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      const f = target.flags;
      const kind =
        f & ts.SymbolFlags.Class
          ? 'class'
          : f & ts.SymbolFlags.Function
            ? 'function'
            : f & (ts.SymbolFlags.Variable | ts.SymbolFlags.Property)
              ? 'const'
              : f & ts.SymbolFlags.Interface
                ? 'interface'
                : f & ts.SymbolFlags.TypeAlias
                  ? 'type'
                  : `flags ${f}`;
      return `${kind} ${symbol.getName()}`;
    })
    .sort();
}

function runtimeKinds(module: Record<string, unknown>): string[] {
  return Object.entries(module)
    .map(([name, value]) => `${typeof value === 'function' ? (/^class\b/.test(String(value)) ? 'class' : 'function') : 'const'} ${name}`)
    .sort();
}

describe('public API', () => {
  it('npz-stream exports exactly these names', () => {
    const names = exportedKinds('../src/index.ts');
    expect(names).toEqual([
      'class NpzError',
      'const DEFAULT_MAX_HEADER_SIZE',
      'const DTYPES',
      'const NPZ_ERROR_CODES',
      'function bfloat16BitsToNumber',
      'function bfloat16ToFloat32',
      'function bufferSource',
      'function decodeNpyHeader',
      'function encodeNpyHeader',
      'function fileSource',
      'function flattenWithNames',
      'function float16BitsToNumber',
      'function float16ToFloat32',
      'function float32ToBfloat16',
      'function float32ToFloat16',
      'function formatSlice',
      'function httpSource',
      'function isDType',
      'function isDamagedEntry',
      'function isNpzError',
      'function loadNpz',
      'function npyHeaderLength',
      'function numberToBfloat16Bits',
      'function numberToFloat16Bits',
      'function openNpy',
      'function openNpz',
      'function openSafetensors',
      'function openSafetensorsIndex',
      'function readNpz',
      'function readSafetensors',
      'function saveNpy',
      'function saveNpz',
      'function saveNpzStream',
      'function saveSafetensors',
      'function saveSafetensorsShards',
      'function saveSafetensorsStream',
      'function sliceShape',
      'function streamNpz',
      'function streamSafetensors',
      'function unflattenWithNames',
      'interface ArrayChunksOptions',
      'interface ArrayFile',
      'interface ArrayGetOptions',
      'interface ArrayInfo',
      'interface AwsCredentials',
      'interface DTypeInfo',
      'interface DecodeNpyHeaderOptions',
      'interface EntryError',
      'interface GcsOptions',
      'interface HttpRetry',
      'interface HttpSource',
      'interface HttpSourceOptions',
      'interface HttpSourceStats',
      'interface HubOptions',
      'interface LazyArray',
      'interface LoadNpzOptions',
      'interface NpyArray',
      'interface NpyFile',
      'interface NpyFileArrayEntry',
      'interface NpyFileDamagedEntry',
      'interface NpyHeader',
      'interface NpyHeaderFields',
      'interface NpzArrayEntry',
      'interface NpzChunksOptions',
      'interface NpzDamagedEntry',
      'interface NpzErrorContext',
      'interface NpzFile',
      'interface NpzOtherEntry',
      'interface NpzTree',
      'interface OpenNpyOptions',
      'interface OpenNpzOptions',
      'interface OpenSafetensorsOptions',
      'interface RandomAccessSource',
      'interface ReadNpzOptions',
      'interface ReadStats',
      'interface RemoteOptions',
      'interface S3Options',
      'interface SafetensorsChunksOptions',
      'interface SafetensorsEntry',
      'interface SafetensorsFile',
      'interface SaveNpyOptions',
      'interface SaveNpySummary',
      'interface SaveOptions',
      'interface SaveProgress',
      'interface SaveSafetensorsOptions',
      'interface SaveSafetensorsStreamOptions',
      'interface SaveSafetensorsSummary',
      'interface SaveShardsOptions',
      'interface SaveShardsSummary',
      'interface SaveSummary',
      'interface ShardOptions',
      'interface ShardedEntry',
      'interface StreamChunksOptions',
      'interface StreamNpzArrayEntry',
      'interface StreamNpzOptions',
      'interface StreamNpzOtherEntry',
      'interface StreamSafetensorsEntry',
      'interface StreamSafetensorsOptions',
      'type ArrayDType',
      'type ArrayEntry',
      'type ArrayFormat',
      'type BearerToken',
      'type ByteOrder',
      'type ByteStream',
      'type Compression',
      'type DType',
      'type DamagedEntry',
      'type DamagedPolicy',
      'type Descr',
      'type DescrField',
      'type DuplicateNamePolicy',
      'type FieldName',
      'type FlatTree',
      'type Leaf',
      'type NpyFileEntry',
      'type NpyTypedArray',
      'type NpzEntry',
      'type NpzErrorCode',
      'type NpzSource',
      'type SafetensorsFloat8DType',
      'type Slice',
      'type SliceBound',
      'type SliceItem',
      'type StreamNpzEntry',
      'type SubarrayDescr',
      'type Tree',
    ]);
    // What runs is what the types promise: every value export above exists at runtime, and nothing else does.
    expect(runtimeKinds(main)).toEqual(names.filter((name) => /^(class|function|const) /.test(name)));
  });

  it('npz-stream/paligemma exports exactly these names', () => {
    const names = exportedKinds('../src/paligemma/index.ts');
    expect(names).toEqual([
      'function isPaliGemmaTrainable',
      'function paligemmaSpec',
      'function syntheticDTypeOf',
      'function syntheticDataBytes',
      'function syntheticLeaf',
      'function syntheticPaliGemma',
      'interface PaliGemmaSpecOptions',
      'interface SyntheticPaliGemmaOptions',
      'type PaliGemmaModel',
      'type SyntheticDType',
      'type SyntheticPrecision',
    ]);
    expect(runtimeKinds(paligemma)).toEqual(names.filter((name) => /^(class|function|const) /.test(name)));
  });

  it('npz-stream/browser exports exactly these names', () => {
    const names = exportedKinds('../src/browser/index.ts');
    expect(names).toEqual([
      'class NpzError',
      'const DEFAULT_MAX_HEADER_SIZE',
      'const DTYPES',
      'const NPZ_ERROR_CODES',
      'function asFloat16Array',
      'function bfloat16BitsToNumber',
      'function bfloat16ToFloat32',
      'function blobSource',
      'function bufferSource',
      'function decodeNpyHeader',
      'function encodeNpyHeader',
      'function flattenWithNames',
      'function float16BitsToNumber',
      'function float16ToFloat32',
      'function float32ToBfloat16',
      'function float32ToFloat16',
      'function httpSource',
      'function isDType',
      'function isDamagedEntry',
      'function isNpzError',
      'function loadNpz',
      'function npyHeaderLength',
      'function numberToBfloat16Bits',
      'function numberToFloat16Bits',
      'function openNpz',
      'function openSafetensors',
      'function openSafetensorsIndex',
      'function readNpz',
      'function readSafetensors',
      'function saveNpzStream',
      'function saveSafetensorsStream',
      'function streamNpz',
      'function unflattenWithNames',
      'interface ArrayChunksOptions',
      'interface ArrayFile',
      'interface ArrayGetOptions',
      'interface ArrayInfo',
      'interface BrowserHttpOptions',
      'interface DTypeInfo',
      'interface DecodeNpyHeaderOptions',
      'interface HttpSource',
      'interface HttpSourceStats',
      'interface LazyArray',
      'interface LoadNpzOptions',
      'interface NpyArray',
      'interface NpyHeader',
      'interface NpyHeaderFields',
      'interface NpzArrayEntry',
      'interface NpzChunksOptions',
      'interface NpzErrorContext',
      'interface NpzFile',
      'interface NpzOtherEntry',
      'interface NpzTree',
      'interface OpenNpzOptions',
      'interface OpenSafetensorsOptions',
      'interface RandomAccessSource',
      'interface ReadCost',
      'interface ReadNpzOptions',
      'interface SafetensorsChunksOptions',
      'interface SafetensorsEntry',
      'interface SafetensorsFile',
      'interface SaveOptions',
      'interface SaveProgress',
      'interface SaveSafetensorsStreamOptions',
      'interface SaveSafetensorsSummary',
      'interface SaveSummary',
      'interface ShardedEntry',
      'interface StreamChunksOptions',
      'interface StreamNpzArrayEntry',
      'interface StreamNpzOptions',
      'interface StreamNpzOtherEntry',
      'type ArrayDType',
      'type ArrayEntry',
      'type ArrayFormat',
      'type BrowserSource',
      'type ByteOrder',
      'type ByteStream',
      'type Compression',
      'type DType',
      'type DamagedEntry',
      'type Descr',
      'type DescrField',
      'type DuplicateNamePolicy',
      'type FieldName',
      'type FlatTree',
      'type Leaf',
      'type NpyTypedArray',
      'type NpzEntry',
      'type NpzErrorCode',
      'type StreamNpzEntry',
      'type SubarrayDescr',
      'type Tree',
    ]);
    expect(runtimeKinds(browser)).toEqual(names.filter((name) => /^(class|function|const) /.test(name)));
  });

  it('package.json maps the entries to the built files', async () => {
    const pkg = (await import('../package.json', { with: { type: 'json' } })).default as { exports: Record<string, { default?: string; types?: string }> };
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' });
    expect(pkg.exports['./paligemma']).toEqual({ types: './dist/paligemma/index.d.ts', default: './dist/paligemma/index.js' });
    expect(pkg.exports['./browser']).toEqual({ types: './dist/browser/index.d.ts', default: './dist/browser/index.js' });
  });
});
