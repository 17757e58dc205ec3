//! The delta protocol's patch applier: no panic on any patch; a computed diff applies.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| qix_runtime::__fuzz::delta_patch(data));
