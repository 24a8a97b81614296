//! The hostile suite, class 5 (issue #16): encodings and formats are told by
//! content. Before the fix, a cp1251, KOI8-R or UTF-16 file became junk
//! with exit 0, gzip on stdin or a `.tar.gz` named `.txt` put binary or tar
//! headers into the corpus, and a soft hyphen split a word.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{fails, gz, ok, tar_gz, zip_of, BIN};

const TEXT: &str = "Съешь же ещё этих мягких французских булок, да выпей чаю.\n\
Ёлка стоит во дворе; «Щи да каша — пища наша».\n\
В лесу родилась ёлочка, в лесу она росла.\n";

fn prep(dir: &Path, input: &str, out: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["prep", input, "-o", out];
    args.extend_from_slice(extra);
    ok(dir, &args);
    std::fs::read(dir.join(out)).unwrap()
}

fn prep_stdin(dir: &Path, data: &[u8], out: &str) -> std::process::Output {
    prep_stdin_args(dir, data, &["-", "-o", out])
}

/// `w2v prep ARGS` with `data` on stdin (which it may refuse unread).
fn prep_stdin_args(dir: &Path, data: &[u8], args: &[&str]) -> std::process::Output {
    let mut c = Command::new(BIN)
        .arg("prep")
        .args(args)
        .args(["--progress", "silent"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refusal closes stdin before it is read: the write may fail then.
    let _ = c.stdin.take().unwrap().write_all(data);
    c.wait_with_output().unwrap()
}

fn manifest(dir: &Path, out: &str) -> serde_json::Value {
    let m = std::fs::read_to_string(dir.join(format!("{out}.prep.manifest.json"))).unwrap();
    serde_json::from_str(&m).unwrap()
}

fn utf16(s: &str, le: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if bom {
        out.extend(if le { [0xFF, 0xFE] } else { [0xFE, 0xFF] });
    }
    for u in s.encode_utf16() {
        out.extend(if le { u.to_le_bytes() } else { u.to_be_bytes() });
    }
    out
}

/// stdin has no size up front: prep counts the bytes it reads, so its
/// summary said "from 0.0 MB" for a piped corpus.
#[test]
fn prep_from_stdin_reports_the_bytes_it_read() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let data = "Привет мир, как дела\n".repeat(5000);
    let o = prep_stdin(p, data.as_bytes(), "out/stdin.txt");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = manifest(p, "out/stdin.txt");
    assert_eq!(m["summary"]["read"]["bytes_in"], data.len() as u64, "{m}");
    assert!(m["summary"]["mb_per_s"].as_f64().unwrap() > 0.0, "{m}");
    // Stdin's input entry says what came: its size and its compression,
    // which only its bytes show (it listed 0 bytes and "none" for gzip).
    let input = &m["summary"]["inputs"][0];
    assert_eq!(input["path"], "-", "{m}");
    assert_eq!(input["bytes"], data.len() as u64, "{m}");
    assert_eq!(input["compression"], "none", "{m}");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, data.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let o = prep_stdin(p, &gz, "out/stdin-gz.txt");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(p.join("out/stdin-gz.txt")).unwrap(),
        std::fs::read(p.join("out/stdin.txt")).unwrap()
    );
    let m = manifest(p, "out/stdin-gz.txt");
    let input = &m["summary"]["inputs"][0];
    assert_eq!(input["bytes"], gz.len() as u64, "{m}");
    assert_eq!(input["compression"], "gzip", "{m}");
    assert_eq!(input["format"], "text", "{m}");
    // Stdin twice read it once and listed it twice, with 0 bytes each.
    let o = prep_stdin_args(p, data.as_bytes(), &["-", "-", "-o", "out/twice.txt"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("stdin is listed more than once"), "{err}");
    assert!(!p.join("out/twice.txt").exists());
}

#[test]
fn class5_legacy_code_pages_and_utf16_decode_to_the_same_corpus_as_utf8() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("utf8.txt"), TEXT).unwrap();
    let want = prep(p, "utf8.txt", "out/utf8.txt", &[]);
    assert!(String::from_utf8_lossy(&want).contains("съешь же еще"));
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "cp1251.txt",
            encoding_rs::WINDOWS_1251.encode(TEXT).0.into_owned(),
            "cp1251",
        ),
        (
            "koi8.txt",
            encoding_rs::KOI8_R.encode(TEXT).0.into_owned(),
            "koi8-r",
        ),
        ("le.txt", utf16(TEXT, true, true), "utf-16le"),
        ("be.txt", utf16(TEXT, false, true), "utf-16be"),
        ("le-nobom.txt", utf16(TEXT, true, false), "utf-16le"),
        ("be-nobom.txt", utf16(TEXT, false, false), "utf-16be"),
    ];
    for (name, bytes, enc) in cases {
        std::fs::write(p.join(name), bytes).unwrap();
        let out = format!("out/{name}");
        assert_eq!(prep(p, name, &out, &[]), want, "{name}");
        let m = manifest(p, &out);
        assert_eq!(m["summary"]["read"]["decoded"][enc], 1, "{name}: {m}");
        assert_eq!(m["summary"]["read"]["invalid_utf8"], 0, "{name}");
    }
    // A forced encoding wins over detection (and reads KOI8-R bytes as
    // cp1251 junk, which is what the user asked for).
    let forced = prep(p, "koi8.txt", "out/forced.txt", &["--encoding", "cp1251"]);
    assert_ne!(forced, want);
    assert_eq!(
        prep(
            p,
            "cp1251.txt",
            "out/forced2.txt",
            &["--encoding", "cp1251"]
        ),
        want
    );
    let o = super::w2v(p, &["prep", "utf8.txt", "--encoding", "latin9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown encoding 'latin9'"));
}

#[test]
fn class5_compressed_and_tar_streams_are_read_by_content_whatever_their_name() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("utf8.txt"), TEXT).unwrap();
    let want = prep(p, "utf8.txt", "out/utf8.txt", &[]);
    // Gzip and zstd on stdin.
    for (what, data) in [
        ("gzip", gz(TEXT.as_bytes())),
        ("zstd", zstd::encode_all(TEXT.as_bytes(), 3).unwrap()),
    ] {
        let o = prep_stdin(p, &data, "out/stdin.txt");
        assert!(
            o.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            std::fs::read(p.join("out/stdin.txt")).unwrap(),
            want,
            "{what}"
        );
    }
    // zstd without an extension, a .tar.gz named .txt, a plain tar on stdin.
    std::fs::write(
        p.join("noext"),
        zstd::encode_all(TEXT.as_bytes(), 3).unwrap(),
    )
    .unwrap();
    assert_eq!(prep(p, "noext", "out/noext.txt", &[]), want);
    let tgz = tar_gz(&[("corpus/texts/a.txt", TEXT.as_bytes())]);
    std::fs::write(p.join("archive.txt"), &tgz).unwrap();
    assert_eq!(prep(p, "archive.txt", "out/archive.txt", &[]), want);
    let tar = flate2::read::GzDecoder::new(&tgz[..]);
    let tar: Vec<u8> = std::io::Read::bytes(tar).map(Result::unwrap).collect();
    let o = prep_stdin(p, &tar, "out/tar.txt");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(p.join("out/tar.txt")).unwrap(), want);
    // A zip on stdin cannot be streamed: a clear refusal, no output.
    let o = prep_stdin(
        p,
        &zip_of(&[("texts/a.txt", TEXT.as_bytes())]),
        "out/zip.txt",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("<stdin>") || err.contains("-:"), "{err}");
    assert!(
        err.contains("is a zip file, which cannot be read as a stream"),
        "{err}"
    );
    assert!(!p.join("out/zip.txt").exists());
    // A zip file forced to be read as text is told which --format.
    std::fs::write(p.join("a.zip"), zip_of(&[("texts/a.txt", TEXT.as_bytes())])).unwrap();
    fails(
        p,
        &["prep", "a.zip", "--format", "text", "-o", "out/zip.txt"],
        1,
        "a.zip: is a zip file, not text: drop --format, or pass --format zip",
    );
    assert!(!p.join("out/zip.txt").exists());
}

#[test]
fn class5_binary_and_mostly_invalid_files_are_refused_unless_allowed() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    // Binary junk (NULs and control bytes): refused, whatever the flags.
    let junk: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    std::fs::write(p.join("blob.txt"), &junk).unwrap();
    let e = fails(
        p,
        &["prep", "blob.txt", "-o", "out/blob.txt"],
        1,
        "blob.txt",
    );
    assert!(e.contains("binary"), "{e}");
    assert_eq!(e.lines().count(), 1, "one line: {e}");
    assert!(!p.join("out/blob.txt").exists());
    // Latin-1 text with accents: high bytes that are neither UTF-8 nor
    // Cyrillic letters. Refused; kept with --allow-invalid, and counted.
    let latin1: Vec<u8> = "Ça déçoit un peu, ô combien à côté.\n"
        .chars()
        .map(|c| c as u32 as u8)
        .collect::<Vec<u8>>()
        .repeat(50);
    std::fs::write(p.join("latin1.txt"), &latin1).unwrap();
    let e = fails(
        p,
        &["prep", "latin1.txt", "-o", "out/l.txt"],
        1,
        "latin1.txt",
    );
    assert!(
        e.contains("invalid UTF-8") && e.contains("--allow-invalid"),
        "{e}"
    );
    assert!(!p.join("out/l.txt").exists());
    ok(
        p,
        &["prep", "latin1.txt", "-o", "out/l.txt", "--allow-invalid"],
    );
    let m = manifest(p, "out/l.txt");
    assert!(
        m["summary"]["read"]["invalid_utf8"].as_u64().unwrap() >= 300,
        "{m}"
    );
    // A few stray bytes in a large UTF-8 file stay under the limit.
    let mut mostly = TEXT.repeat(40).into_bytes();
    mostly.insert(100, 0xFF);
    std::fs::write(p.join("mostly.txt"), &mostly).unwrap();
    ok(p, &["prep", "mostly.txt", "-o", "out/m.txt"]);
}

#[test]
fn class5_a_soft_hyphen_inside_a_word_does_not_split_it() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("shy.txt"), "пере\u{00AD}нос сло\u{2060}ва\n").unwrap();
    assert_eq!(
        prep(p, "shy.txt", "out/shy.txt", &[]),
        "перенос слова\n".as_bytes()
    );
    // And queries normalize the same way.
    let n = w2v::normalize::Normalizer::default();
    assert_eq!(
        n.normalize_query("Пере\u{00AD}нос").as_deref(),
        Some("перенос")
    );
}
