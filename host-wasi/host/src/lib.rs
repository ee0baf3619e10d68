//! Runs Smoothcast's WASI components in wasmtime: the `smoothcast:packager` library component
//! and the wasi:http JIT origin. Used by the tests (byte identity with `smoothcast package`,
//! bad input, a real player), by `smoothcast-wasi-serve` (the origin without wasmtime-cli)
//! and by `smoothcast-wasi-bench`.

pub mod build;
pub mod origin;
pub mod packager;
pub mod reference;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Per-store state: WASI for the std runtime both guests link, HTTP for the origin.
pub struct State {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
}

impl State {
    pub fn new(wasi: WasiCtx) -> Self {
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}
