//! `tidemark::fuzz::state_file`: any bytes get a verdict, never a panic, a hang or
//! an allocation out of proportion to the input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = tidemark::fuzz::state_file(data);
});
