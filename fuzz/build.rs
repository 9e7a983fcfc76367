//! scripts/fuzz.sh links the RocksDB archive the main build already compiled
//! (ROCKSDB_LIB_DIR, ROCKSDB_STATIC) instead of compiling its C++ again for
//! the fuzz build's flags; an archive brings no C++ runtime, so link it here.
fn main() {
    println!("cargo:rerun-if-env-changed=ROCKSDB_LIB_DIR");
    if std::env::var_os("ROCKSDB_LIB_DIR").is_some() {
        println!("cargo:rustc-link-lib=dylib=stdc++");
    }
}
