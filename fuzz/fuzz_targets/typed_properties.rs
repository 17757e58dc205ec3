//! Typed decoding of `GenericObjectProperties`: never panics, and what decodes re-encodes to JSON that
//! decodes and encodes to the same text (lossless round trip, numbers bit for bit).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    qix_generated::qix_runtime::__fuzz::typed_round_trip::<
        qix_generated::types::GenericObjectProperties,
    >(data)
});
