//! The `smoothcast` binary: everything lives in the library, see `cli.rs`.

/// mimalloc instead of glibc's malloc: with a thousand live publishers, glibc spent ~18% of
/// the server's CPU in `_int_malloc` and its free-list upkeep (rml_rtmp grows each message's
/// buffer chunk by chunk, and the heap is full of fragment-sized holes).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    smoothcast::cli::main()
}
