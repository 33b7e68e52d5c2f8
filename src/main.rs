//! The `relctl` binary: everything lives in the library (src/lib.rs).

fn main() {
    relctl::main();
}
