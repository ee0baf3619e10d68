// The JavaScript API of smoothcast, shared by the web, bundler and Node entry points.
// makeApi() takes the wasm-bindgen glue of one target (which differ only in how the .wasm
// is loaded) and an init() that resolves once that .wasm is ready.

// Read size per step: large enough that the JS/wasm crossing costs nothing, small enough
// that memory stays flat (the native host reads 1 MiB too).
export const CHUNK = 1 << 20;

/** An Error with a `kind`, like the ones the wasm side throws. */
export function smoothcastError(kind, message) {
  const e = new Error(message);
  e.name = 'SmoothcastError';
  e.kind = kind;
  return e;
}

export function makeApi(raw, init) {
  /**
   * A packaging session: push each input's bytes, end() each input; both return the outputs
   * produced (and call the optional callbacks). Call free() when abandoning it early.
   */
  class Packager {
    #raw;
    #callbacks;

    constructor(options = {}) {
      const { onOutput, onFragment, onManifest, ...rest } = options;
      this.#callbacks = { onOutput, onFragment, onManifest };
      this.#raw = new raw.Packager(rawOptions(rest));
    }

    /** Feeds the next bytes (Uint8Array, any size) of the current input. */
    push(chunk) {
      if (!(chunk instanceof Uint8Array)) {
        throw smoothcastError('usage', 'push() takes a Uint8Array');
      }
      this.#raw.push(chunk);
      return this.#drain();
    }

    /** Ends the current input; see the 'seek', 'input-done' and 'done' outputs. */
    end() {
      this.#raw.end();
      return this.#drain();
    }

    /** Index of the input being read. */
    get input() { return this.#raw.input; }
    /** 'measure' (a first pass to find a bitrate), 'package' or 'done'. */
    get phase() { return this.#raw.phase; }

    free() { this.#raw.free(); }

    #drain() {
      const outputs = [];
      for (let step = this.#raw.poll(); step !== undefined; step = this.#raw.poll()) {
        // A fragment carries its own timing; its fragment-closed event repeats it.
        if (step.type === 'fragment-closed') continue;
        outputs.push(step);
      }
      const { onOutput, onFragment, onManifest } = this.#callbacks;
      for (const out of outputs) {
        onOutput?.(out);
        if (out.type === 'fragment') onFragment?.(out);
        else if (out.type === 'manifest') onManifest?.(out);
      }
      return outputs;
    }
  }

  /**
   * Packages Blobs or Files (several make one adaptive presentation), reading them in
   * slices and honouring seek requests: an MP4 with its moov at the end is read moov first,
   * an MPEG-TS without a bitrate is read twice. Yields the outputs as they come.
   */
  async function* packageBlob(input, options = {}) {
    yield* packageSources(blobInputs(input, options).map(({ blob, name, bitrate }) => ({
      name,
      bitrate,
      size: blob.size,
      read: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
    })), options);
  }

  /**
   * The seeking reader behind packageBlob (and Node's packageFiles): each source is
   * {name, bitrate?, size, read(offset, length) => Promise<Uint8Array>}. The bytes read()
   * returns are copied into the packager at once, so a reader may reuse its buffer.
   */
  async function* packageSources(sources, options = {}) {
    await init();
    const { onProgress, ...rest } = options;
    const packager = new Packager({
      ...rest,
      seekable: true,
      inputs: sources.map(({ name, bitrate }) => ({ name, bitrate })),
    });
    try {
      for (let i = 0; i < sources.length; i++) {
        const { name, size, read } = sources[i];
        let offset = 0;
        for (let done = false; !done;) {
          const atEnd = offset >= size;
          const chunk = atEnd ? null : await read(offset, Math.min(CHUNK, size - offset));
          if (chunk && chunk.length === 0) {
            throw smoothcastError('truncated', `${name}: the input ended at ${offset} of ${size} bytes`);
          }
          const outputs = chunk ? packager.push(chunk) : packager.end();
          offset = chunk ? offset + chunk.length : size;
          let sought = false;
          for (const out of outputs) {
            if (out.type === 'seek') { offset = out.offset; sought = true; continue; }
            if (out.type === 'input-done') done = true;
            yield out;
          }
          if (atEnd && !sought && !done) {
            throw smoothcastError('usage', 'the packager neither finished the input nor asked for more');
          }
          onProgress?.({ input: i, inputs: sources.length, phase: packager.phase, offset, size });
        }
      }
    } finally {
      packager.free();
    }
  }

  /**
   * Packages a one-way stream (a ReadableStream such as a fetch body or File.stream(), or any
   * async iterable of Uint8Array such as a Node stream). It cannot seek: an MP4 with its moov
   * at the end is buffered until the moov arrives, and MPEG-TS/FLV need options.bitrate.
   */
  async function* packageStream(source, options = {}) {
    await init();
    const { name = 'stream', bitrate, ...rest } = options;
    const packager = new Packager({ ...rest, seekable: false, inputs: [{ name, bitrate }] });
    try {
      for await (const chunk of chunks(source)) yield* packager.push(chunk);
      yield* packager.end();
    } finally {
      packager.free();
    }
  }

  /**
   * Packages Blobs/Files into memory: resolves to
   * { manifest: {path, xml}, files: Map<path, Uint8Array>, fragments: [...] }.
   */
  async function packageFile(input, options = {}) {
    const files = new Map();
    const fragments = [];
    let manifest = null;
    for await (const out of packageBlob(input, options)) {
      if (out.type === 'fragment' || out.type === 'rewrite') files.set(out.path, out.data);
      if (out.type === 'fragment') {
        const { data, type, ...info } = out;
        fragments.push(info);
      }
      if (out.type === 'remove') files.delete(out.path);
      if (out.type === 'manifest') {
        manifest = { path: out.path, xml: out.xml };
        files.set(out.path, new TextEncoder().encode(out.xml));
      }
    }
    return { manifest, files, fragments };
  }

  return { Packager, packageBlob, packageSources, packageStream, packageFile };
}

/** The wasm side's option names; anything unknown is dropped rather than passed through. */
export function rawOptions(o) {
  const inputs = o.inputs ?? [{ name: o.name, bitrate: o.bitrate }];
  return {
    inputs: inputs.map(({ name, bitrate }) => ({ name, bitrate })),
    chunkLength: o.chunkLength,
    manifestName: o.manifestName,
    streamName: o.streamName,
    seekable: o.seekable === true,
    drm: o.drm,
  };
}

/** [{blob, name, bitrate}] from a Blob, a File, or an array of them / of {blob, name, bitrate}. */
function blobInputs(input, options) {
  const list = Array.isArray(input) ? input : [input];
  if (list.length === 0) throw smoothcastError('options', 'no inputs');
  return list.map((item, i) => {
    const entry = item instanceof Blob ? { blob: item } : item;
    if (!entry || !(entry.blob instanceof Blob)) {
      throw smoothcastError('options', `input ${i + 1} is not a Blob, a File or {blob, name, bitrate}`);
    }
    const single = list.length === 1;
    return {
      blob: entry.blob,
      name: entry.name ?? (single ? options.name : undefined) ?? entry.blob.name ?? `input${i + 1}`,
      bitrate: entry.bitrate ?? (single ? options.bitrate : undefined),
    };
  });
}

/** Uint8Array chunks from a ReadableStream or an async/sync iterable. */
async function* chunks(source) {
  if (source && typeof source.getReader === 'function') {
    const reader = source.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield toBytes(value);
      }
    } finally {
      reader.releaseLock();
    }
  }
  if (source && (Symbol.asyncIterator in source || Symbol.iterator in source)) {
    for await (const value of source) yield toBytes(value);
    return;
  }
  throw smoothcastError('options', 'the source must be a ReadableStream or an iterable of Uint8Array');
}

function toBytes(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw smoothcastError('options', 'stream chunks must be Uint8Array or ArrayBuffer');
}
