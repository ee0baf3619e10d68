//! The wasm-bindgen surface: one class, `Packager`, over a [`Session`].
//!
//! Kept deliberately small and synchronous: bytes in (`push`, `end`), plain objects out
//! (`poll`). Callbacks, async iterators and file helpers live in the JavaScript layer
//! (`host-browser/npm/lib/api.js`), where promises and streams are native.

use js_sys::{Array, Object, Reflect, Uint8Array};
use smoothcast_core::presentation::{Event, FragmentInfo, Output};
use wasm_bindgen::prelude::*;

use smoothcast_core::crypto::Protection;
use smoothcast_core::package::{Error, ErrorKind, InputSpec, Session, SessionOptions, Step};

use crate::input::InputBuffers;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Options of the low-level Packager (the high-level API in index.d.ts wraps these). */
export interface RawPackagerOptions {
  /** One entry per input, in order; several inputs make one adaptive presentation. */
  inputs: { name: string; bitrate?: number }[];
  /** Target fragment duration in seconds (default 2). */
  chunkLength?: number;
  /** Manifest file name (default "manifest.ismc"). */
  manifestName?: string;
  /** Stream folder of a single input (default: the input's file stem). */
  streamName?: string;
  /** Whether the caller honours {type: "seek"} steps (default false). */
  seekable?: boolean;
  /** PlayReady protection (PIFF, AES-128-CTR): encrypts audio and video, adds the header. */
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

/** What poll() returns; times are in 10 MHz ticks. */
export type RawStep =
  | { type: "fragment"; path: string; data: Uint8Array; kind: "video" | "audio"; bitrate: number; start: number; duration: number; samples: number; size: number }
  | { type: "rewrite"; path: string; data: Uint8Array; kind: "video" | "audio"; bitrate: number; start: number; duration: number; samples: number; size: number }
  | { type: "rewrite-head"; path: string; data: Uint8Array; kind: "video" | "audio"; bitrate: number; start: number; duration: number; samples: number; size: number }
  | { type: "manifest"; path: string; xml: string }
  | { type: "remove"; path: string }
  | { type: "fragment-closed"; path: string; kind: "video" | "audio"; bitrate: number; start: number; duration: number; samples: number }
  | { type: "manifest-updated"; path: string }
  | { type: "sample-dropped"; level: string; kind: "video" | "audio"; reason: string }
  | { type: "codec-changed"; level: string; kind: "video" | "audio" }
  | { type: "seek"; offset: number }
  | { type: "input-done"; input: number }
  | { type: "done" };
"#;

/// A packaging session. Push each input's bytes in order, `end()` each input, and drain
/// `poll()` after every call.
#[wasm_bindgen]
pub struct Packager {
    session: Session,
    input: InputBuffers,
}

#[wasm_bindgen]
impl Packager {
    /// Checks the options as `smoothcast package` does; throws an `Error` with
    /// `kind = "options"` when they are wrong.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "RawPackagerOptions")] options: JsValue,
    ) -> Result<Packager, JsValue> {
        let options = parse_options(&options).map_err(to_js)?;
        Ok(Packager {
            session: Session::new(options).map_err(to_js)?,
            input: InputBuffers::default(),
        })
    }

    /// Feeds the next bytes of the current input (any chunking).
    pub fn push(&mut self, chunk: Vec<u8>) -> Result<(), JsValue> {
        // The bytes are copied into wasm memory for the call either way; owning that copy
        // lets samples share it instead of being copied once more.
        self.session
            .push_shared(bytes::Bytes::from(chunk))
            .map_err(to_js)
    }

    /// `length` bytes of wasm memory to read the next bytes of the current input into (Node's
    /// `fs.readSync`), then hand over with `pushBuffer`: the bytes reach the packager without
    /// the copy `push` makes. Write into the view only before the next call on this packager
    /// (`free()` included).
    pub fn buffer(&mut self, length: usize) -> Uint8Array {
        let buf = self.input.lend(length);
        // SAFETY: the view aliases the lent buffer, which stays allocated and untouched by
        // Rust until `pushBuffer`, the next `buffer` call or `free()`; writes through it are
        // plain byte writes into initialised memory. A call that grows the memory detaches
        // the view (writes then throw). The one caller, Node's `packageFiles`, only reads
        // the file into it between `buffer` and `pushBuffer`.
        unsafe { Uint8Array::view_mut_raw(buf.as_mut_ptr(), buf.len()) }
    }

    /// Feeds the first `length` bytes written into the last `buffer` (like `push`).
    #[wasm_bindgen(js_name = pushBuffer)]
    pub fn push_buffer(&mut self, length: usize) -> Result<(), JsValue> {
        let chunk = self.input.take(length).ok_or_else(|| {
            to_js(Error::new(
                ErrorKind::Usage,
                "pushBuffer(length) needs a buffer(n) call before it, with n >= length",
            ))
        })?;
        self.session.push_shared(chunk).map_err(to_js)
    }

    /// Ends the current input. Poll afterwards: a `seek` step means the input must be read
    /// again from that offset (then `end()` again), `input-done` that the next input may start.
    pub fn end(&mut self) -> Result<(), JsValue> {
        self.session.end().map_err(to_js)
    }

    /// The next step, or `undefined` when the packager needs more input.
    #[wasm_bindgen(unchecked_return_type = "RawStep | undefined")]
    pub fn poll(&mut self) -> JsValue {
        match self.session.poll() {
            Some(step) => step_to_js(&step, |data| Uint8Array::from(data).into()),
            None => JsValue::UNDEFINED,
        }
    }

    /// Hands every pending step to `sink`, synchronously, with `data` as a view into wasm
    /// memory instead of a copy: valid only until `sink` returns. For hosts that write the
    /// bytes out at once (Node's `packageFiles`), it saves copying every fragment.
    #[wasm_bindgen(js_name = drainTo)]
    pub fn drain_to(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "(step: RawStep) => void")] sink: &js_sys::Function,
    ) -> Result<(), JsValue> {
        while let Some(step) = self.session.poll() {
            // SAFETY: the view aliases `step`'s bytes, which live until the end of this
            // iteration. Nothing runs in wasm while `sink` runs (a re-entrant call on this
            // packager is refused by wasm-bindgen), so the memory can neither be freed nor
            // grow (which would detach the view) before `sink` returns.
            let obj = step_to_js(&step, |data| unsafe { Uint8Array::view(data) }.into());
            sink.call1(&JsValue::NULL, &obj)?;
        }
        Ok(())
    }

    /// Index of the input being read.
    #[wasm_bindgen(getter)]
    pub fn input(&self) -> usize {
        self.session.input()
    }

    /// `"measure"` (first pass over an input without a stated bitrate), `"package"`, `"done"`.
    #[wasm_bindgen(getter)]
    pub fn phase(&self) -> String {
        self.session.phase().to_string()
    }
}

/// An `Error` with a `kind` property JavaScript can branch on.
fn to_js(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name("SmoothcastError");
    let _ = Reflect::set(&err, &"kind".into(), &e.kind.as_str().into());
    err.into()
}

fn options_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Options, message)
}

fn get(obj: &JsValue, key: &str) -> Result<JsValue, Error> {
    Reflect::get(obj, &key.into()).map_err(|_| options_error(format!("cannot read option {key}")))
}

fn opt_string(obj: &JsValue, key: &str) -> Result<Option<String>, Error> {
    let v = get(obj, key)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| options_error(format!("{key} must be a string")))
}

fn opt_number(obj: &JsValue, key: &str) -> Result<Option<f64>, Error> {
    let v = get(obj, key)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_f64()
        .map(Some)
        .ok_or_else(|| options_error(format!("{key} must be a number")))
}

fn parse_options(js: &JsValue) -> Result<SessionOptions, Error> {
    if !js.is_object() {
        return Err(options_error("options must be an object"));
    }
    let mut o = SessionOptions::default();
    let inputs = get(js, "inputs")?;
    if !Array::is_array(&inputs) {
        return Err(options_error("inputs must be an array of {name, bitrate?}"));
    }
    for (i, input) in Array::from(&inputs).iter().enumerate() {
        if !input.is_object() {
            return Err(options_error(format!("inputs[{i}] must be an object")));
        }
        let name = opt_string(&input, "name")?.unwrap_or_else(|| format!("input{}", i + 1));
        let bitrate = match opt_number(&input, "bitrate")? {
            None => None,
            Some(b) if b.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(&b) => {
                Some(b as u32)
            }
            Some(b) => {
                return Err(options_error(format!(
                    "{name}: bitrate {b} must be a whole number of bits/s above 0"
                )))
            }
        };
        o.inputs.push(InputSpec {
            name,
            bitrate,
            seekable: None,
        });
    }
    if let Some(c) = opt_number(js, "chunkLength")? {
        o.chunk_length = c;
    }
    if let Some(m) = opt_string(js, "manifestName")? {
        o.manifest_name = m;
    }
    o.stream_name = opt_string(js, "streamName")?;
    let seekable = get(js, "seekable")?;
    o.seekable = seekable.as_bool().unwrap_or(false);
    let drm = get(js, "drm")?;
    if !(drm.is_undefined() || drm.is_null()) {
        o.protection = Some(parse_drm(&drm)?);
    }
    Ok(o)
}

/// `drm: {keyId, key | keySeed, laUrl, luiUrl?, customAttributes?}`.
fn parse_drm(js: &JsValue) -> Result<Protection, Error> {
    if !js.is_object() {
        return Err(options_error("drm must be an object"));
    }
    let key_id = opt_string(js, "keyId")?.ok_or_else(|| options_error("drm.keyId is required"))?;
    let la_url = opt_string(js, "laUrl")?.ok_or_else(|| options_error("drm.laUrl is required"))?;
    let key = opt_string(js, "key")?;
    let seed = opt_string(js, "keySeed")?;
    let mut p = Protection::from_user(&key_id, key.as_deref(), seed.as_deref(), &la_url)
        .map_err(|e| options_error(format!("drm: {e}")))?;
    p.lui_url = opt_string(js, "luiUrl")?;
    let attrs = get(js, "customAttributes")?;
    if attrs.is_object() {
        for entry in Object::entries(&Object::from(attrs)).iter() {
            let pair = Array::from(&entry);
            let (name, value) = (pair.get(0).as_string(), pair.get(1).as_string());
            let (Some(name), Some(value)) = (name, value) else {
                return Err(options_error("drm.customAttributes values must be strings"));
            };
            p.custom_attributes.push((name, value));
        }
    }
    p.check().map_err(|e| options_error(format!("drm: {e}")))?;
    Ok(p)
}

/// A plain object from key/value pairs.
fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let obj = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&obj, &(*k).into(), v);
    }
    obj.into()
}

/// `bytes` turns fragment data into a `Uint8Array` (a copy, or a view for `drainTo`).
fn step_to_js(step: &Step, bytes: impl Fn(&[u8]) -> JsValue) -> JsValue {
    let t = |s: &str| ("type", JsValue::from_str(s));
    let s = |v: &str| JsValue::from_str(v);
    // Times and offsets as numbers: exact up to 2^53 (28 years in 10 MHz ticks, 8 PiB).
    let n = |v: u64| JsValue::from_f64(v as f64);
    // A fragment's own facts, so JavaScript need not pair it with its fragment-closed.
    let fragment = |kind: &str, path: &str, data: &[u8], info: &FragmentInfo| {
        object(&[
            t(kind),
            ("path", s(path)),
            ("data", bytes(data)),
            ("kind", s(info.kind.as_str())),
            ("bitrate", n(u64::from(info.bitrate))),
            ("start", n(info.start)),
            ("duration", n(info.duration)),
            ("samples", n(info.samples as u64)),
            ("size", n(info.size as u64)),
        ])
    };
    match step {
        Step::Output(output) => match output {
            Output::WriteFragment { path, data, info } => fragment("fragment", path, data, info),
            Output::RewriteFragment { path, data, info } => fragment("rewrite", path, data, info),
            // Only for a host that sets `rewrite_in_place`, which this package does not: the
            // new head alone, for the file's first bytes.
            Output::RewriteFragmentHead { path, head, info } => {
                fragment("rewrite-head", path, head, info)
            }
            Output::WriteManifest { path, xml } => {
                object(&[t("manifest"), ("path", s(path)), ("xml", s(xml))])
            }
            Output::Remove { path } => object(&[t("remove"), ("path", s(path))]),
            Output::Event(event) => match event {
                Event::FragmentClosed {
                    path,
                    kind,
                    bitrate,
                    start,
                    duration,
                    samples,
                } => object(&[
                    t("fragment-closed"),
                    ("path", s(path)),
                    ("kind", s(kind.as_str())),
                    ("bitrate", n(u64::from(*bitrate))),
                    ("start", n(*start)),
                    ("duration", n(*duration)),
                    ("samples", n(*samples as u64)),
                ]),
                Event::ManifestUpdated { path } => {
                    object(&[t("manifest-updated"), ("path", s(path))])
                }
                Event::SampleDropped {
                    level,
                    kind,
                    reason,
                } => object(&[
                    t("sample-dropped"),
                    ("level", s(level)),
                    ("kind", s(kind.as_str())),
                    ("reason", s(reason)),
                ]),
                Event::CodecChanged { level, kind } => object(&[
                    t("codec-changed"),
                    ("level", s(level)),
                    ("kind", s(kind.as_str())),
                ]),
                Event::FragmentCut {
                    level,
                    kind,
                    reason,
                } => object(&[
                    t("fragment-cut"),
                    ("level", s(level)),
                    ("kind", s(kind.as_str())),
                    ("reason", s(reason)),
                ]),
                Event::TrackIgnored {
                    level,
                    track,
                    reason,
                } => object(&[
                    t("track-ignored"),
                    ("level", s(level)),
                    ("track", n(u64::from(*track))),
                    ("reason", s(reason)),
                ]),
            },
        },
        Step::Seek(offset) => object(&[t("seek"), ("offset", n(*offset))]),
        Step::InputDone(i) => object(&[t("input-done"), ("input", n(*i as u64))]),
        Step::Done => object(&[t("done")]),
    }
}
