#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signoff_fuzz::spec_validator(data));
