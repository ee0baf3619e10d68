//! The `smoothcast:packager` component behind a small Rust API.

use std::path::Path;

use anyhow::{anyhow, Result};
use wasmtime::component::{Component, Linker, ResourceAny};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::WasiCtx;

use crate::reference::{InputSpec, Packaged};
use crate::State;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "packager",
});

pub use exports::smoothcast::packager::packaging::{
    Error as WitError, ErrorKind, Layout, Options, Output, Playlist, Protection,
};

/// A compiled packager component; cheap to instantiate many times.
pub struct Runtime {
    engine: Engine,
    pre: PackagerPre<State>,
}

impl Runtime {
    pub fn new(component: &Path) -> Result<Self> {
        let engine = Engine::new(&Config::new()).map_err(|e| anyhow!("{e}"))?;
        let component = Component::from_file(&engine, component).map_err(|e| anyhow!("{e}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| anyhow!("{e}"))?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(PackagerPre::new)
            .map_err(|e| anyhow!("{e}"))?;
        Ok(Self { engine, pre })
    }

    /// A fresh instance holding one packager resource.
    pub fn packager(&self, options: &Options) -> Result<Instance> {
        let mut store = Store::new(&self.engine, State::new(WasiCtx::builder().build()));
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| anyhow!("{e}"))?;
        let resource = bindings
            .smoothcast_packager_packaging()
            .packager()
            .call_constructor(&mut store, options)
            .map_err(|e| anyhow!("{e}"))?;
        Ok(Instance {
            store,
            bindings,
            resource,
        })
    }
}

/// One instance with its packager. A trap would surface as an `Err` of the outer `Result`
/// (the inner one is the WIT error); the tests require there are none.
pub struct Instance {
    store: Store<State>,
    bindings: Packager,
    resource: ResourceAny,
}

pub type Call<T> = Result<std::result::Result<T, WitError>>;

impl Instance {
    /// A new packager resource in the same instance (the old one is dropped): shows that an
    /// instance survives a failed presentation.
    pub fn renew(&mut self, options: &Options) -> Result<()> {
        let p = self.bindings.smoothcast_packager_packaging().packager();
        let fresh = p
            .call_constructor(&mut self.store, options)
            .map_err(|e| anyhow!("trap: {e}"))?;
        let old = std::mem::replace(&mut self.resource, fresh);
        old.resource_drop(&mut self.store)
            .map_err(|e| anyhow!("trap: {e}"))
    }

    pub fn add_input(&mut self, name: &str, bitrate: Option<u32>, seekable: bool) -> Call<u32> {
        let p = self.bindings.smoothcast_packager_packaging().packager();
        p.call_add_input(&mut self.store, self.resource, name, bitrate, seekable)
            .map_err(|e| anyhow!("trap: {e}"))
    }

    pub fn push(&mut self, input: u32, data: &[u8]) -> Call<()> {
        let p = self.bindings.smoothcast_packager_packaging().packager();
        p.call_push(&mut self.store, self.resource, input, data)
            .map_err(|e| anyhow!("trap: {e}"))
    }

    pub fn finish_input(&mut self, input: u32) -> Call<()> {
        let p = self.bindings.smoothcast_packager_packaging().packager();
        p.call_finish_input(&mut self.store, self.resource, input)
            .map_err(|e| anyhow!("trap: {e}"))
    }

    pub fn finish(&mut self) -> Call<()> {
        let p = self.bindings.smoothcast_packager_packaging().packager();
        p.call_finish(&mut self.store, self.resource)
            .map_err(|e| anyhow!("trap: {e}"))
    }

    pub fn poll(&mut self) -> Result<Vec<Output>> {
        let p = self.bindings.smoothcast_packager_packaging().packager();
        p.call_poll(&mut self.store, self.resource)
            .map_err(|e| anyhow!("trap: {e}"))
    }

    pub fn bitrate(&mut self, input: u32) -> Result<Option<u32>> {
        let p = self.bindings.smoothcast_packager_packaging().packager();
        p.call_bitrate(&mut self.store, self.resource, input)
            .map_err(|e| anyhow!("trap: {e}"))
    }
}

/// Applies the component's outputs as a disk host would; `seeks` collects seek requests.
pub fn apply(out: &mut Packaged, outputs: Vec<Output>, seeks: &mut Vec<(u32, u64)>) {
    for o in outputs {
        match o {
            Output::Fragment(f) => {
                out.fragments.insert(f.path, f.data);
            }
            Output::Manifest(m) => out.manifest = Some((m.path, m.xml)),
            Output::Remove(path) => {
                out.fragments.remove(&path);
            }
            Output::Seek(s) => seeks.push((s.input, s.offset)),
            Output::Note(_) => {}
        }
    }
}

/// Packages in-memory inputs through the component, pushing `chunk`-byte pieces (any
/// chunking must give the same bytes) and honouring seeks as a file reader would (also
/// after `finish-input`: a second pass to measure a bitrate).
pub fn package(
    rt: &Runtime,
    inputs: &[InputSpec],
    options: &Options,
    chunk: usize,
) -> Result<std::result::Result<Packaged, WitError>> {
    let mut inst = rt.packager(options)?;
    let mut ids = Vec::new();
    for i in inputs {
        match inst.add_input(&i.name, i.bitrate, true)? {
            Ok(id) => ids.push(id),
            Err(e) => return Ok(Err(e)),
        }
    }
    let mut out = Packaged::default();
    for (i, &id) in inputs.iter().zip(&ids) {
        let mut pos = 0usize;
        loop {
            let end = (pos + chunk.max(1)).min(i.data.len());
            let piece = &i.data[pos.min(end)..end];
            let result = if piece.is_empty() {
                inst.finish_input(id)?
            } else {
                inst.push(id, piece)?
            };
            pos = end;
            let mut seeks = Vec::new();
            apply(&mut out, inst.poll()?, &mut seeks);
            if let Err(e) = result {
                return Ok(Err(e));
            }
            match seeks.last() {
                Some(&(_, offset)) => {
                    pos = usize::try_from(offset)
                        .unwrap_or(usize::MAX)
                        .min(i.data.len())
                }
                None if piece.is_empty() => break,
                None => {}
            }
        }
    }
    let result = inst.finish()?;
    let mut seeks = Vec::new();
    apply(&mut out, inst.poll()?, &mut seeks);
    Ok(result.map(|()| out))
}
