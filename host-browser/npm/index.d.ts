// Types of the smoothcast package (web, bundler and Node builds share them).

/** Error kinds: branch on `err.kind`, show `err.message`. */
export type ErrorKind =
  | "options"          // bad options (chunk length, names, bitrates)
  | "not-media"        // not MP4, MOV, MPEG-TS, FLV, SRT or WebVTT (an image...)
  | "malformed"        // a recognised container with broken structure
  | "truncated"        // the input ends inside a structure (a cut-off download)
  | "unsupported"      // a codec or feature Smoothcast does not package
  | "bitrate-unknown"  // a one-way MPEG-TS/FLV stream without options.bitrate
  | "mismatch"         // inputs that cannot form one presentation
  | "empty"            // nothing to package
  | "usage";           // the packager was called out of order

/** A fragment's stream type: subtitles (SRT, WebVTT inputs) are written as TTML text. */
export type TrackKind = "video" | "audio" | "text";

export interface SmoothcastError extends Error {
  name: "SmoothcastError";
  kind: ErrorKind;
}

/** The options of `smoothcast package`. */
export interface PackageOptions {
  /** Target fragment duration in seconds; fragments start on IDR frames. Default 2. */
  chunkLength?: number;
  /** Manifest file name. Default "manifest.ismc". */
  manifestName?: string;
  /** Stream folder of a single input. Default: the input name's stem ("clip.mp4" -> "clip"). */
  streamName?: string;
  /** Name of a single input (a File's name is used otherwise). */
  name?: string;
  /** Bitrate (bits/s) announced for a single input; measured when omitted. */
  bitrate?: number;
  /** PlayReady protection (PIFF, AES-128-CTR "cenc"): audio and video are encrypted and the
   *  manifest carries the PlayReady header. The same bytes as `smoothcast package --key`. */
  drm?: DrmOptions;
}

/** PlayReady protection, as `smoothcast package --key KID:KEY --playready-la-url URL`. */
export interface DrmOptions {
  /** Key ID, 32 hex digits (dashes allowed), big-endian UUID order. */
  keyId: string;
  /** Content key, 32 hex digits; or give keySeed. */
  key?: string;
  /** PlayReady key seed (base64 or hex, at least 30 bytes): the key derives from it. */
  keySeed?: string;
  /** License server URL (LA_URL). */
  laUrl: string;
  /** License UI URL (LUI_URL). */
  luiUrl?: string;
  /** CUSTOMATTRIBUTES children, name to text. */
  customAttributes?: Record<string, string>;
}

export interface Fragment {
  type: "fragment";
  /** Path relative to the presentation folder, e.g. "clip/video/1200000/20000000.fmp4". */
  path: string;
  data: Uint8Array;
  size: number;
  kind: TrackKind;
  bitrate: number;
  /** Start and duration in 10 MHz ticks (divide by 1e7 for seconds). */
  start: number;
  duration: number;
  samples: number;
}

export type Output =
  | Fragment
  | { type: "manifest"; path: string; xml: string }
  | { type: "rewrite"; path: string; data: Uint8Array }
  | { type: "remove"; path: string }
  | { type: "manifest-updated"; path: string }
  | { type: "sample-dropped"; level: string; kind: TrackKind; reason: string }
  | { type: "codec-changed"; level: string; kind: TrackKind }
  | { type: "fragment-cut"; level: string; kind: TrackKind; reason: string }
  // A track of an input that is not packaged (a codec Smoothcast does not carry).
  | { type: "track-ignored"; level: string; track: number; reason: string }
  /** Only from a seekable Packager: continue the current input from this byte offset. */
  | { type: "seek"; offset: number }
  | { type: "input-done"; input: number }
  | { type: "done" };

export interface PackagerOptions extends PackageOptions {
  /** Several inputs make one adaptive presentation (bitrates must differ). */
  inputs?: { name: string; bitrate?: number }[];
  /** Whether you honour "seek" outputs. Default false. */
  seekable?: boolean;
  onOutput?: (output: Output) => void;
  onFragment?: (fragment: Fragment) => void;
  onManifest?: (manifest: { path: string; xml: string }) => void;
}

/** The streaming core: push bytes, get outputs back (and through the callbacks). */
export class Packager {
  constructor(options?: PackagerOptions);
  push(chunk: Uint8Array): Output[];
  end(): Output[];
  readonly input: number;
  readonly phase: "measure" | "package" | "done";
  free(): void;
}

export type BlobInput = Blob | { blob: Blob; name?: string; bitrate?: number };

export interface Progress {
  input: number;
  inputs: number;
  /** "measure": a first pass to find the bitrate (MPEG-TS, FLV); then "package". */
  phase: "measure" | "package" | "done";
  offset: number;
  size: number;
}

export interface BlobOptions extends PackageOptions {
  onProgress?: (progress: Progress) => void;
}

export interface Presentation {
  manifest: { path: string; xml: string };
  /** Every file of the presentation, manifest included, by path. */
  files: Map<string, Uint8Array>;
  fragments: Omit<Fragment, "type" | "data">[];
}

/** Loads the .wasm (web build); a no-op elsewhere. The helpers call it themselves. */
export function init(wasm?: unknown): Promise<void>;
/** Packages Blobs/Files, seeking as needed; yields outputs as they come. */
export function packageBlob(input: BlobInput | BlobInput[], options?: BlobOptions): AsyncGenerator<Output>;
/** Packages a one-way stream (fetch body, File.stream(), Node stream). */
export function packageStream(
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options?: PackageOptions,
): AsyncGenerator<Output>;
/** Packages Blobs/Files into memory. */
export function packageFile(input: BlobInput | BlobInput[], options?: BlobOptions): Promise<Presentation>;
export function smoothcastError(kind: ErrorKind, message: string): SmoothcastError;
