//! The `smoothcast` binary: everything lives in the library, see `cli.rs`.

fn main() -> std::process::ExitCode {
    smoothcast::cli::main()
}
