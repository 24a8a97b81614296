#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| w2v_fuzz::reader_parquet(data));
