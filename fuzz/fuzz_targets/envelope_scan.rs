//! The structural scanner that locates a response's `result`: SSE2 and scalar scans agree,
//! and end valid JSON where serde_json does.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| qix_runtime::__fuzz::envelope_scan(data));
