//! The generator's spec loader and lowering on any bytes: a clear error or an API, never a
//! panic or a hang.
#![no_main]

use std::sync::LazyLock;

use qix_codegen::{Settings, Spec};

static SETTINGS: LazyLock<Settings> = LazyLock::new(Settings::default);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = Spec::parse(data, "fuzz.json") {
        let _ = qix_codegen::lower::lower(&spec, &SETTINGS, "fuzz.json");
    }
});
