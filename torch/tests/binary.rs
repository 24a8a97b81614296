//! The `w2v-torch` binary itself (this test also makes `cargo test` build
//! it next to `w2v`, where `w2v train --engine torch` looks for it).

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_w2v-torch");

#[test]
fn facts_report_the_pinned_libtorch() {
    let o = Command::new(BIN).arg("facts").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        f["libtorch"].as_str().unwrap_or("").starts_with("2.11.0"),
        "{f}"
    );
    assert!(f["cuda_available"].is_boolean(), "{f}");
}

#[test]
fn a_malformed_configuration_is_a_usage_error() {
    let o = Command::new(BIN)
        .args([
            "train",
            "--config-json",
            "{not json",
            "--progress",
            "silent",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("malformed configuration"), "{err}");
}
