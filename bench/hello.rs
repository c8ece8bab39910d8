// A Rust "hello world" for the one-shot comparison: what any Rust program pays to
// start. bench/benches/suite/one_shot.rs compiles it with the release profile's
// settings, once as Cargo links by default and once statically, like `attach`.
fn main() {
    println!("hello");
}
