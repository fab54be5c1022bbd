//! Rewrite man/ and completions/ from the command-line definition:
//!
//!     cargo run --example generate -- .

#[path = "../tests/integration/docs.rs"]
mod docs;

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    for (rel, body) in docs::render() {
        let p = dir.join(&rel);
        if let Some(parent) = p.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                eprintln!("generate: cannot create {}: {e}", parent.display());
                std::process::exit(1);
            }
        }
        if let Err(e) = std::fs::write(&p, body) {
            eprintln!("generate: cannot write {}: {e}", p.display());
            std::process::exit(1);
        }
    }
}
