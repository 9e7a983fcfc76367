//! `tidemark::fuzz::rest`: every request gets an answer, and never a 5xx:
//! what a client sends is the client's problem, told as a 4xx.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let code = tidemark::fuzz::rest(data);
    assert!((200..500).contains(&code), "answered {code}");
});
