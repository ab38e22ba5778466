#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signoff_fuzz::command_decoder(data));
