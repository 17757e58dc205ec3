//! The envelope parser of incoming frames: never panics, agrees with serde_json on valid
//! frames, and redacted frames stay JSON.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| qix_runtime::__fuzz::frame_parse(data));
