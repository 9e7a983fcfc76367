//! The `tidemark` command; everything lives in [`tidemark::cli`].

fn main() {
    std::process::exit(tidemark::cli::main());
}
