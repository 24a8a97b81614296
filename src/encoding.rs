//! Text encodings, told by content: what `prep` does to the bytes of a
//! document before it reads a line.
//!
//! In: the first [`SAMPLE_BYTES`] of a stream (a file, stdin or an archive
//! entry, after decompression) and the user's `--encoding` choice. Out: the
//! [`Detected`] encoding, a reader that yields UTF-8, or a refusal of data
//! that is not text.
//!
//! `--encoding auto` (the default) decides per document:
//! 1. a byte-order mark: UTF-8 (`EF BB BF`), UTF-16 LE (`FF FE`), UTF-16 BE
//!    (`FE FF`);
//! 2. UTF-16 without a mark: nearly every other byte is `00` (Latin) or `04`
//!    (Cyrillic, U+04xx), which no 8-bit Russian text shows;
//! 3. valid UTF-8 (the sample may end inside a character);
//! 4. otherwise, when most non-ASCII bytes are in `C0..FF` and they are not
//!    outnumbered two to one by ASCII letters (Latin-1 accents are), a single-byte
//!    Cyrillic code page: windows-1251 or KOI8-R, whichever reads the
//!    letters `C0..FF` as the more frequent Russian letters
//!    ([`cyrillic_scores`]; the case of the letters cannot decide, since
//!    the two put upper and lower case in opposite halves). Measured
//!    against chardetng on snippets of real text (`examples/encoding_detect.rs`,
//!    BENCHMARKS.md), it is right at least as often at every length, and
//!    far more often on short text in capitals;
//! 5. anything else is read as UTF-8, with each invalid sequence replaced
//!    by U+FFFD and counted.
//!
//! A document whose replaced sequences exceed [`MAX_INVALID_SHARE`] of its
//! bytes is refused unless `--allow-invalid` is given; so is a document that
//! looks like binary data (NUL bytes or other control characters in
//! [`looks_binary`]'s proportions), which no choice of encoding makes text.
//! Decoding other than UTF-8 goes through `encoding_rs` (WHATWG's tables),
//! streamed by `encoding_rs_io`; valid UTF-8, nearly every corpus, is read
//! as it is, with no copy.

use std::io::{BufRead, BufReader, Read};

use serde::{Deserialize, Serialize};

/// Bytes looked at to decide a document's encoding.
pub const SAMPLE_BYTES: usize = 64 << 10;

/// The largest share of a document's bytes that may be invalid UTF-8
/// (each invalid sequence counted once) before the document is refused
/// without `--allow-invalid`: 1%.
pub const MAX_INVALID_SHARE: f64 = 0.01;

/// Documents with fewer invalid sequences than this are never refused (a
/// stray byte in a short file).
pub const MIN_INVALID_TO_REFUSE: u64 = 8;

/// The user's choice (`--encoding`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncodingChoice {
    /// Decide per document by content. The default.
    #[default]
    Auto,
    /// UTF-8 (invalid sequences replaced).
    Utf8,
    /// windows-1251.
    Cp1251,
    /// KOI8-R.
    Koi8R,
    /// UTF-16, little-endian unless a byte-order mark says otherwise.
    Utf16,
}

impl std::str::FromStr for EncodingChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "auto" => EncodingChoice::Auto,
            "utf-8" | "utf8" => EncodingChoice::Utf8,
            "cp1251" | "windows-1251" => EncodingChoice::Cp1251,
            "koi8-r" | "koi8r" => EncodingChoice::Koi8R,
            "utf-16" | "utf16" => EncodingChoice::Utf16,
            _ => {
                return Err(format!(
                    "unknown encoding '{s}' (auto, utf-8, cp1251, koi8-r, utf-16)"
                ))
            }
        })
    }
}

/// A document's encoding, as decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Detected {
    Utf8,
    Utf16Le,
    Utf16Be,
    Cp1251,
    Koi8R,
}

impl Detected {
    /// The name recorded in the prep manifest.
    pub fn name(self) -> &'static str {
        match self {
            Detected::Utf8 => "utf-8",
            Detected::Utf16Le => "utf-16le",
            Detected::Utf16Be => "utf-16be",
            Detected::Cp1251 => "cp1251",
            Detected::Koi8R => "koi8-r",
        }
    }

    fn encoding(self) -> &'static encoding_rs::Encoding {
        match self {
            Detected::Utf8 => encoding_rs::UTF_8,
            Detected::Utf16Le => encoding_rs::UTF_16LE,
            Detected::Utf16Be => encoding_rs::UTF_16BE,
            Detected::Cp1251 => encoding_rs::WINDOWS_1251,
            Detected::Koi8R => encoding_rs::KOI8_R,
        }
    }
}

/// The encoding of a document that starts with `sample`, under `choice`.
pub fn detect(sample: &[u8], choice: EncodingChoice) -> Detected {
    match choice {
        EncodingChoice::Utf8 => return Detected::Utf8,
        EncodingChoice::Cp1251 => return Detected::Cp1251,
        EncodingChoice::Koi8R => return Detected::Koi8R,
        EncodingChoice::Utf16 => {
            return if sample.starts_with(&[0xFE, 0xFF]) {
                Detected::Utf16Be
            } else if sample.starts_with(&[0xFF, 0xFE]) {
                Detected::Utf16Le
            } else {
                utf16_without_bom(sample).unwrap_or(Detected::Utf16Le)
            }
        }
        EncodingChoice::Auto => {}
    }
    if sample.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Detected::Utf8;
    }
    // A byte-order mark counts when at least half the pairs after it have
    // UTF-16's shape: `FF FE` is also what two invalid UTF-8 bytes look like.
    let (le, be) = utf16_shape(sample.get(2..).unwrap_or_default());
    if sample.starts_with(&[0xFF, 0xFE]) && le >= 0.5 {
        return Detected::Utf16Le;
    }
    if sample.starts_with(&[0xFE, 0xFF]) && be >= 0.5 {
        return Detected::Utf16Be;
    }
    if let Some(d) = utf16_without_bom(sample) {
        return d;
    }
    if is_utf8_prefix(sample) {
        return Detected::Utf8;
    }
    single_byte_cyrillic(sample).unwrap_or(Detected::Utf8)
}

/// Valid UTF-8, allowing the sample to end inside a character.
fn is_utf8_prefix(sample: &[u8]) -> bool {
    match std::str::from_utf8(sample) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// UTF-16 without a byte-order mark: in at least 90% of the byte pairs one
/// side is `00` or `04` (the high byte of Latin and Cyrillic code units).
fn utf16_without_bom(sample: &[u8]) -> Option<Detected> {
    if sample.len() < 8 {
        return None;
    }
    match utf16_shape(sample) {
        (le, _) if le >= 0.9 => Some(Detected::Utf16Le),
        (_, be) if be >= 0.9 => Some(Detected::Utf16Be),
        _ => None,
    }
}

/// The shares of byte pairs shaped like little- and big-endian UTF-16 code
/// units of Latin or Cyrillic text: a high byte of `00` or `04` beside a
/// non-zero low byte. Both 1.0 for fewer than two bytes.
fn utf16_shape(bytes: &[u8]) -> (f64, f64) {
    let pairs = bytes.len() / 2;
    if pairs == 0 {
        return (1.0, 1.0);
    }
    let high = |b: u8| b == 0x00 || b == 0x04;
    let (mut le, mut be) = (0usize, 0usize);
    for p in bytes.chunks_exact(2) {
        le += (high(p[1]) && p[0] != 0) as usize;
        be += (high(p[0]) && p[1] != 0) as usize;
    }
    (le as f64 / pairs as f64, be as f64 / pairs as f64)
}

/// Russian letters in alphabetical order (ё apart), and how often each is
/// met in Russian text, per mille (the usual corpus table).
const RU_LETTERS: &str = "абвгдежзийклмнопрстуфхцчшщъыьэюя";
const RU_FREQ: [f64; 32] = [
    80.1, 15.9, 45.4, 17.0, 29.8, 84.5, 9.4, 16.5, 73.5, 12.1, 34.9, 44.0, 32.1, 67.0, 109.7, 28.1,
    47.3, 54.7, 62.6, 26.2, 2.6, 9.7, 4.8, 14.4, 7.3, 3.6, 0.4, 19.0, 17.4, 3.2, 6.4, 20.1,
];
/// KOI8-R's letters at `C0..DF` (lower case; `E0..FF` are their capitals).
const KOI8_LETTERS: &str = "юабцдефгхийклмнопярстужвьызшэщчъ";

/// How Russian the letters `C0..FF` of `sample` read as windows-1251 and
/// as KOI8-R: the summed frequencies of the letters each gives. The two
/// put upper and lower case in opposite halves, so the case of the text
/// cannot decide (an all-capitals file read by case came out as the other
/// encoding); the letters' frequencies can.
fn cyrillic_scores(sample: &[u8]) -> (f64, f64) {
    let koi8: Vec<usize> = KOI8_LETTERS
        .chars()
        .map(|c| RU_LETTERS.chars().position(|x| x == c).unwrap_or(0))
        .collect();
    let (mut cp, mut ko) = (0.0, 0.0);
    for &b in sample.iter().filter(|&&b| b >= 0xC0) {
        let i = usize::from(b - 0xC0) % 32;
        cp += RU_FREQ[i];
        ko += RU_FREQ[koi8[i]];
    }
    (cp, ko)
}

/// windows-1251 or KOI8-R, when at least 80% of the non-ASCII bytes are
/// letters of either (`C0..FF`) and they are at least half as many as the
/// ASCII letters; the letters' frequencies decide ([`cyrillic_scores`]).
fn single_byte_cyrillic(sample: &[u8]) -> Option<Detected> {
    let (mut high, mut c0, mut e0, mut latin) = (0usize, 0usize, 0usize, 0usize);
    for &b in sample {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' => latin += 1,
            0xC0..=0xDF => c0 += 1,
            0xE0..=0xFF => e0 += 1,
            _ => {}
        }
        high += !b.is_ascii() as usize;
    }
    // Latin-1 text has its accented letters in C0..FF too, but as a few
    // percent of its letters; in Russian text they are most of them.
    if high == 0 || ((c0 + e0) as f64) < 0.8 * high as f64 || 2 * (c0 + e0) < latin {
        return None;
    }
    let (cp, ko) = cyrillic_scores(sample);
    Some(if cp >= ko {
        Detected::Cp1251
    } else {
        Detected::Koi8R
    })
}

/// Binary data, not text in any encoding: more than 1% NUL bytes, or more
/// than 5% control bytes other than tab, newline, carriage return, form
/// feed, vertical tab and escape (UTF-16 is decided before this is asked).
pub fn looks_binary(sample: &[u8]) -> bool {
    let mut c = BinaryCounts::default();
    c.add(sample);
    c.looks_binary()
}

/// [`looks_binary`]'s counts, added up over several pieces (the values of
/// a parquet byte column).
#[derive(Clone, Copy, Debug, Default)]
pub struct BinaryCounts {
    pub bytes: u64,
    pub nul: u64,
    /// Control bytes that text does not hold, NUL among them.
    pub ctrl: u64,
}

impl BinaryCounts {
    pub fn add(&mut self, b: &[u8]) {
        self.bytes += b.len() as u64;
        for &x in b {
            self.nul += u64::from(x == 0);
            self.ctrl +=
                u64::from(x < 0x20 && !matches!(x, b'\t' | b'\n' | b'\r' | 0x0B | 0x0C | 0x1B));
        }
    }

    /// [`looks_binary`]'s rule over everything added (false for nothing).
    pub fn looks_binary(&self) -> bool {
        let n = self.bytes as f64;
        self.nul as f64 > 0.01 * n || self.ctrl as f64 > 0.05 * n
    }
}

/// Invalid UTF-8 sequences in `bytes` (each maximal invalid run once, as
/// [`crate::corpus::decode_lossy`] replaces them).
pub fn invalid_sequences(bytes: &[u8]) -> u64 {
    bytes
        .utf8_chunks()
        .filter(|c| !c.invalid().is_empty())
        .count() as u64
}

/// Whether `invalid` replaced sequences in `bytes` bytes are too many.
pub fn too_invalid(invalid: u64, bytes: u64) -> bool {
    invalid >= MIN_INVALID_TO_REFUSE && invalid as f64 > MAX_INVALID_SHARE * bytes.max(1) as f64
}

/// A whole small text file (an eval set) read as `prep` reads a document:
/// its encoding decided from its first [`SAMPLE_BYTES`] ([`detect`]), a
/// byte-order mark dropped, and lines ended by `\n`, `\r\n` or a lone `\r`
/// (old Mac files) all ending in `\n`. The error says what the bytes are
/// instead: binary data, or UTF-8 with too many invalid sequences.
pub fn decode_text(bytes: &[u8]) -> std::result::Result<(String, Detected), String> {
    let sample = &bytes[..bytes.len().min(SAMPLE_BYTES)];
    let enc = detect(sample, EncodingChoice::Auto);
    if enc == Detected::Utf8 {
        if looks_binary(sample) {
            return Err("is binary data, not text".into());
        }
        let bad = invalid_sequences(bytes);
        if bad > 0 {
            return Err(format!(
                "is not valid UTF-8 ({bad} invalid sequence(s)), and its bytes do not read as windows-1251, KOI8-R or UTF-16 text either"
            ));
        }
    }
    let (text, _) = enc.encoding().decode_with_bom_removal(bytes);
    let text = if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text.into_owned()
    };
    Ok((text, enc))
}

/// A reader with its first bytes put back in front ([`peek`]).
pub type Peeked<R> = std::io::Chain<std::io::Cursor<Vec<u8>>, R>;

/// Reads up to `n` bytes from the front of `r` and gives them back with a
/// reader that still yields every byte, those first.
pub fn peek<R: BufRead>(mut r: R, n: usize) -> std::io::Result<(Vec<u8>, Peeked<R>)> {
    let mut head = Vec::with_capacity(n.min(SAMPLE_BYTES));
    (&mut r).take(n as u64).read_to_end(&mut head)?;
    Ok((head.clone(), std::io::Cursor::new(head).chain(r)))
}

/// `r` decoded to UTF-8 from `enc` (unchanged for UTF-8). A byte-order mark
/// of the chosen encoding is dropped.
pub fn decoder<'r, R: BufRead + 'r>(r: R, enc: Detected) -> Box<dyn BufRead + 'r> {
    if enc == Detected::Utf8 {
        return Box::new(r);
    }
    let d = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(enc.encoding()))
        .bom_override(false)
        .build(r);
    Box::new(BufReader::with_capacity(1 << 20, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RU: &str =
        "Съешь же ещё этих мягких французских булок, да выпей чаю. Ёлка, щи и ямщик.\n";

    fn encode(s: &str, enc: &'static encoding_rs::Encoding) -> Vec<u8> {
        enc.encode(s).0.into_owned()
    }

    fn utf16(s: &str, le: bool) -> Vec<u8> {
        s.encode_utf16()
            .flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() })
            .collect()
    }

    fn decode_all(bytes: &[u8], enc: Detected) -> String {
        let mut out = String::new();
        decoder(std::io::Cursor::new(bytes.to_vec()), enc)
            .read_to_string(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn each_encoding_is_told_by_content_and_decodes_back() {
        let text = RU.repeat(20);
        let mut bom_le = vec![0xFF, 0xFE];
        bom_le.extend(utf16(&text, true));
        let mut bom_be = vec![0xFE, 0xFF];
        bom_be.extend(utf16(&text, false));
        let cases = [
            (text.as_bytes().to_vec(), Detected::Utf8),
            (encode(&text, encoding_rs::WINDOWS_1251), Detected::Cp1251),
            (encode(&text, encoding_rs::KOI8_R), Detected::Koi8R),
            (bom_le, Detected::Utf16Le),
            (bom_be, Detected::Utf16Be),
            (utf16(&text, true), Detected::Utf16Le),
            (utf16(&text, false), Detected::Utf16Be),
            (utf16("plain latin text, no BOM\n", true), Detected::Utf16Le),
        ];
        for (bytes, want) in cases {
            let got = detect(&bytes, EncodingChoice::Auto);
            assert_eq!(got, want, "{:?}", &bytes[..8]);
            assert!(!looks_binary(&bytes) || got != Detected::Utf8);
            if want != Detected::Utf8 && bytes.len() > 100 {
                assert_eq!(decode_all(&bytes, got), text, "{want:?}");
            }
        }
    }

    #[test]
    fn single_byte_cyrillic_is_told_by_its_letters_not_their_case() {
        // The two encodings put capitals and small letters in opposite
        // halves: all capitals, read by case, came out as the other one.
        let words = "кошка собака дом лес река город книга окно стол машина\n";
        for text in [
            words.to_string(),
            words.to_uppercase(),
            words
                .split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
                })
                .collect::<Vec<_>>()
                .join(" "),
        ] {
            for (enc, want) in [
                (encoding_rs::WINDOWS_1251, Detected::Cp1251),
                (encoding_rs::KOI8_R, Detected::Koi8R),
            ] {
                let bytes = encode(&text, enc);
                assert_eq!(detect(&bytes, EncodingChoice::Auto), want, "{text}");
                assert_eq!(decode_text(&bytes).unwrap().0, text);
            }
        }
    }

    #[test]
    fn a_sample_cut_inside_a_character_is_still_utf8() {
        let b = RU.as_bytes();
        // "Съ": cut after the first byte of ъ.
        assert_eq!(detect(&b[..3], EncodingChoice::Auto), Detected::Utf8);
        // `FF FE` before UTF-8 text is two invalid bytes, not a UTF-16 mark.
        let fake_bom = [&[0xFF, 0xFE][..], RU.as_bytes()].concat();
        assert_eq!(detect(&fake_bom, EncodingChoice::Auto), Detected::Utf8);
        // Real invalid bytes inside mostly-UTF-8 text stay UTF-8 (lossy).
        let mut bad = RU.repeat(5).into_bytes();
        bad.insert(10, 0xFF);
        assert_eq!(detect(&bad, EncodingChoice::Auto), Detected::Utf8);
        assert_eq!(invalid_sequences(&bad), 1);
    }

    #[test]
    fn a_forced_choice_wins() {
        let cp = encode(RU, encoding_rs::WINDOWS_1251);
        assert_eq!(detect(&cp, EncodingChoice::Koi8R), Detected::Koi8R);
        assert_eq!(detect(&cp, EncodingChoice::Utf8), Detected::Utf8);
        assert_eq!(
            detect(&utf16(RU, false), EncodingChoice::Utf16),
            Detected::Utf16Be
        );
        assert_eq!(
            "KOI8-R".parse::<EncodingChoice>(),
            Ok(EncodingChoice::Koi8R)
        );
        assert!("latin1".parse::<EncodingChoice>().is_err());
    }

    #[test]
    fn binary_is_told_from_text() {
        assert!(!looks_binary(RU.as_bytes()));
        assert!(!looks_binary(b"tab\tand\r\nform\x0cfeed"));
        let mut junk: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert!(looks_binary(&junk));
        junk.iter_mut().for_each(|b| *b |= 0x20);
        // High bytes with no NUL or control bytes: not binary, but not
        // Cyrillic letters either, so read as (invalid) UTF-8.
        assert!(!looks_binary(&junk));
        assert_eq!(detect(&junk, EncodingChoice::Auto), Detected::Utf8);
        assert!(too_invalid(invalid_sequences(&junk), junk.len() as u64));
        // Latin-1 French: accented letters in C0..FF, but few of them.
        let latin1: Vec<u8> = "Ça déçoit un peu, ô combien à côté."
            .chars()
            .map(|c| c as u8)
            .collect();
        assert_eq!(detect(&latin1, EncodingChoice::Auto), Detected::Utf8);
    }

    #[test]
    fn the_invalid_threshold() {
        assert!(!too_invalid(7, 100));
        assert!(too_invalid(8, 100));
        assert!(!too_invalid(10, 1000));
        assert!(too_invalid(11, 1000));
    }

    #[test]
    fn peek_gives_every_byte_back() {
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let (head, mut rest) = peek(std::io::Cursor::new(data.clone()), 300).unwrap();
        assert_eq!(head, data[..300]);
        let mut all = Vec::new();
        rest.read_to_end(&mut all).unwrap();
        assert_eq!(all, data);
    }
}
