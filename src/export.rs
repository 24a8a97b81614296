//! `w2v export` / `w2v import`: word2vec.c formats, `.npy`, vocab TSV.
//!
//! word2vec text: `V D\n` then `word x1 ... xD\n` per word. word2vec binary:
//! `V D\n` then per word `word<space>` + D little-endian float32 + `\n`,
//! exactly what word2vec.c writes. Import is lenient where nothing is lost:
//! the header is optional (text), and invalid UTF-8 in words is replaced
//! and counted. It is strict where data would be silently wrong: the record
//! count must match the header, and bad values, empty and duplicate words
//! are refused ([`import`]). Export verifies the model's matrices against
//! its manifest first ([`crate::model::ModelDir::verify`]).
//!
//! fastText `.bin` (`fasttext-bin`, subword models only), as fastText 0.9's
//! `FastText::saveModel` writes it: magic 793712314 and version 12 (int32);
//! the args (int32 dim, ws, epoch, minCount, neg, wordNgrams, loss (2 = ns),
//! model (2 = skipgram), bucket, minn, maxn, lrUpdateRate, then float64 t);
//! the dictionary (int32 size, nwords, nlabels; int64 ntokens,
//! pruneidx_size = −1; per word its UTF-8 bytes, a NUL, int64 count, int8
//! type 0); a bool (quantized: 0); the input matrix (int64 rows, cols, then
//! float32 rows): the words' own trained rows (recovered from the composed
//! vectors, [`crate::subword::own_row`]) then the n-gram rows; a bool (0); the
//! output matrix `V × dim`: `output.npy` when the model saved it
//! (`train --save-output`), else zeros, which `get_word_vector` and
//! gensim's `load_facebook_vectors` never read. The counts come from the
//! vocabulary directory the model was trained on, when it is still there;
//! else every count is written as 1. ws, epoch, minCount, neg and t are
//! taken from the training config where recorded (they only matter to a
//! fastText that continues training).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{invalid, io_err, Error, Result};
use crate::manifest::Sink;
use crate::query::Model;

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    Word2vecBin,
    Word2vecText,
    Npy,
    VocabTsv,
    /// fastText's `.bin` (subword models).
    FasttextBin,
}

/// Writes `model` to `path` in `format`; `-` is stdout (not for `.npy`).
/// An existing `path` that is not a regular file, or that another stage's
/// manifest records as its output, is refused
/// ([`crate::manifest::check_output_path`]).
pub fn export(model: &Model, format: ExportFormat, path: &Path) -> Result<()> {
    model.model_dir().verify()?;
    let (v, d) = (model.len(), model.vectors().cols());
    let stdout = path.as_os_str() == "-";
    // The lock also removes the temp files a killed export left beside `path`.
    let _lock = if stdout {
        None
    } else {
        crate::manifest::check_output_path(path, "export")?;
        Some(crate::manifest::lock_dir(crate::manifest::parent_dir(
            path,
        ))?)
    };
    if format == ExportFormat::Npy {
        if stdout {
            return Err(Error::InvalidConfig(
                "`-o -` (stdout) is for word2vec-text, word2vec-bin and vocab-tsv; give a file name for npy".into(),
            ));
        }
        return crate::embeddings::write_npy(path, model.vectors().data(), &[v, d]);
    }
    if format == ExportFormat::FasttextBin && stdout {
        return Err(Error::InvalidConfig(
            "`-o -` (stdout) is for word2vec-text, word2vec-bin and vocab-tsv; give a file name for fasttext-bin".into(),
        ));
    }
    let mut f = Sink::create(path)?;
    let e = |p: &Path| io_err(p.to_path_buf(), "write");
    match format {
        ExportFormat::FasttextBin => write_fasttext(model, &mut f, path)?,
        ExportFormat::VocabTsv => {
            for i in 0..v {
                writeln!(f, "{i}\t{}", model.word(i)).map_err(e(path))?;
            }
        }
        ExportFormat::Word2vecText | ExportFormat::Word2vecBin => {
            writeln!(f, "{v} {d}").map_err(e(path))?;
            for i in 0..v {
                let row = model.vectors().row(i);
                if format == ExportFormat::Word2vecText {
                    write!(f, "{}", model.word(i)).map_err(e(path))?;
                    for x in row {
                        write!(f, " {x}").map_err(e(path))?;
                    }
                    writeln!(f).map_err(e(path))?;
                } else {
                    write!(f, "{} ", model.word(i)).map_err(e(path))?;
                    f.write_all(bytemuck::cast_slice(row)).map_err(e(path))?;
                    f.write_all(b"\n").map_err(e(path))?;
                }
            }
        }
        ExportFormat::Npy => unreachable!("handled above"),
    }
    f.commit()
}

/// The counts of the vocabulary the model was trained on, when its
/// directory (recorded in the model manifest's inputs) still holds the same
/// words; else none.
fn vocab_counts(model: &Model) -> Option<Vec<u64>> {
    let m = model.model_dir().manifest();
    let words = m
        .manifest
        .inputs
        .iter()
        .find(|f| f.path.ends_with("words.txt"))?;
    let dir = Path::new(&words.path).parent()?;
    let vocab = crate::vocab::Vocab::load(dir).ok()?;
    let same = vocab.words.len() == model.len()
        && vocab
            .words
            .iter()
            .enumerate()
            .all(|(i, w)| w == model.word(i));
    same.then_some(vocab.counts)
}

/// fastText's `.bin` (see the module docs).
fn write_fasttext(model: &Model, f: &mut Sink, path: &Path) -> Result<()> {
    let e = || io_err(path.to_path_buf(), "write");
    let Some((sw, grams)) = model.model_dir().subwords() else {
        return Err(invalid(
            model.model_dir().path(),
            "is a word-level model; fasttext-bin needs a subword model (`w2v train --subwords 3-6`)",
        ));
    };
    let (v, d) = (model.len(), model.vectors().cols());
    let counts = vocab_counts(model).unwrap_or_else(|| vec![1; v]);
    let cfg = &model.model_dir().manifest().manifest.config;
    let get = |k: &str, default: i64| cfg.get(k).and_then(|x| x.as_i64()).unwrap_or(default);
    let i32s = |f: &mut Sink, xs: &[i32]| -> Result<()> {
        for x in xs {
            f.write_all(&x.to_le_bytes()).map_err(e())?;
        }
        Ok(())
    };
    i32s(f, &[793_712_314, 12])?;
    i32s(
        f,
        &[
            d as i32,
            5,                       // ws: recorded by `pairs`, not here
            get("epochs", 5) as i32, // epoch
            1,                       // minCount: the vocabulary is already cut
            get("negative", 5) as i32,
            1, // wordNgrams
            2, // loss: ns
            2, // model: skipgram
            sw.buckets as i32,
            sw.minn as i32,
            sw.maxn as i32,
            100, // lrUpdateRate
        ],
    )?;
    f.write_all(&1e-4f64.to_le_bytes()).map_err(e())?;
    // The dictionary.
    i32s(f, &[v as i32, v as i32, 0])?;
    let ntokens: u64 = counts.iter().sum();
    f.write_all(&(ntokens as i64).to_le_bytes()).map_err(e())?;
    f.write_all(&(-1i64).to_le_bytes()).map_err(e())?;
    for (i, c) in counts.iter().enumerate() {
        f.write_all(model.word(i).as_bytes()).map_err(e())?;
        f.write_all(&[0]).map_err(e())?;
        f.write_all(&(*c as i64).to_le_bytes()).map_err(e())?;
        f.write_all(&[0]).map_err(e())?;
    }
    // The input matrix: own rows, then the n-gram rows.
    f.write_all(&[0]).map_err(e())?;
    f.write_all(&((v + sw.buckets as usize) as i64).to_le_bytes())
        .map_err(e())?;
    f.write_all(&(d as i64).to_le_bytes()).map_err(e())?;
    let (mut ids, mut own) = (Vec::new(), vec![0f32; d]);
    for i in 0..v {
        ids.clear();
        sw.ngrams_into(model.word(i), &mut ids);
        let row = |g: u32| grams.row(g as usize);
        crate::subword::own_row(model.vectors().row(i), &ids, row, &mut own);
        f.write_all(bytemuck::cast_slice(&own)).map_err(e())?;
    }
    f.write_all(bytemuck::cast_slice(grams.data()))
        .map_err(e())?;
    // The output matrix.
    f.write_all(&[0]).map_err(e())?;
    f.write_all(&(v as i64).to_le_bytes()).map_err(e())?;
    f.write_all(&(d as i64).to_le_bytes()).map_err(e())?;
    match model.model_dir().output()? {
        Some(out) => f.write_all(bytemuck::cast_slice(out.data())).map_err(e())?,
        None => {
            let zeros = vec![0f32; d];
            for _ in 0..v {
                f.write_all(bytemuck::cast_slice(&zeros)).map_err(e())?;
            }
        }
    }
    Ok(())
}

/// What `import` read.
#[derive(Debug, Serialize)]
pub struct Imported {
    pub words: Vec<String>,
    pub dim: usize,
    pub data: Vec<f32>,
    pub invalid_utf8: u64,
}

/// Reads word2vec text or binary (detected from the first record).
///
/// What is refused, each with the line (text) or record (binary) at fault:
/// a header of 0 vectors or 0 dimensions; a record count other than the
/// header's (a truncated file, or a header claiming more or fewer rows);
/// records of the wrong width or without values; values that are not
/// numbers or not finite (NaN, infinity); empty and duplicate words, and
/// words holding ASCII white space or a control character (which word2vec
/// text cannot hold, or a terminal would act on); a header of two integers
/// that are not both positive. Text records are split at ASCII white space,
/// as word2vec and fastText split them, so a word may hold a no-break
/// space. Words are kept exactly as the file spells them (see
/// [`crate::query`] for how queries find them). A UTF-8 byte-order mark
/// before the first line is dropped.
pub fn import(path: &Path) -> Result<Imported> {
    let f = std::fs::File::open(path).map_err(io_err(path, "open vectors"))?;
    let mut r = BufReader::new(f);
    let mut first = Vec::new();
    r.read_until(b'\n', &mut first)
        .map_err(io_err(path, "read vectors"))?;
    // A UTF-8 byte-order mark (some editors write one) is not part of the
    // header or of the first word.
    if first.starts_with(&[0xEF, 0xBB, 0xBF]) {
        first.drain(..3);
    }
    let head = String::from_utf8_lossy(&first).trim().to_string();
    let nums: Vec<&str> = head.split_ascii_whitespace().collect();
    let header = (nums.len() == 2 && nums.iter().all(|x| x.parse::<usize>().is_ok())).then(|| {
        (
            nums[0].parse::<usize>().unwrap_or(0),
            nums[1].parse::<usize>().unwrap_or(0),
        )
    });
    if header.is_none() && nums.len() == 2 && nums.iter().all(|x| x.parse::<i64>().is_ok()) {
        return Err(invalid(
            path,
            format!("line 1: the header '{head}' must give the number of vectors and the dimension, both positive"),
        ));
    }
    match header {
        Some((_, 0)) => return Err(invalid(path, "line 1: the header says dimension 0")),
        Some((0, _)) => return Err(invalid(path, "line 1: the header says 0 vectors")),
        _ => {}
    }
    let mut rest = Vec::new();
    r.read_to_end(&mut rest)
        .map_err(io_err(path, "read vectors"))?;
    let mut invalid_utf8 = 0u64;
    let mut decode = |b: &[u8]| -> String {
        let mut scratch = String::new();
        crate::corpus::decode_lossy(b, &mut scratch, &mut invalid_utf8).to_string()
    };
    let (mut words, mut data) = (Vec::new(), Vec::new());
    // Binary when the header is there and the first record is not a line
    // of text of the header's width, and either the body is not UTF-8 (a
    // character cut at the end of the probe does not count) or the first
    // record has a binary record's shape: a word, a space, 4 × dim bytes
    // and a line end. (Values like 0.5 or 2.0 are valid UTF-8 as bytes.)
    let probe = &rest[..rest.len().min(4096)];
    let binary = header.is_some_and(|(_, d)| {
        !is_text_record(&rest, d)
            && (std::str::from_utf8(probe).is_err_and(|e| e.error_len().is_some())
                || has_binary_shape(&rest, d))
    });
    if binary {
        let (v, d) = header.expect("checked");
        let mut pos = 0;
        for k in 0..v {
            let rec = || format!("record {} of {v}", k + 1);
            while pos < rest.len() && rest[pos] == b'\n' {
                pos += 1;
            }
            let sp = memchr::memchr(b' ', &rest[pos..]).ok_or_else(|| {
                invalid(
                    path,
                    format!("{}: truncated (the header says {v} vectors)", rec()),
                )
            })?;
            words.push(decode(&rest[pos..pos + sp]));
            pos += sp + 1;
            let bytes = rest.get(pos..pos + 4 * d).ok_or_else(|| {
                invalid(
                    path,
                    format!("{}: truncated (the header says {v} vectors)", rec()),
                )
            })?;
            data.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))),
            );
            pos += 4 * d;
        }
        let extra = rest[pos..]
            .iter()
            .filter(|b| !b.is_ascii_whitespace())
            .count();
        if extra > 0 {
            return Err(invalid(
                path,
                format!(
                    "holds {} more bytes after the {v} vectors its header announces; the header is wrong",
                    rest.len() - pos
                ),
            ));
        }
        let at = |k: usize| format!("record {}", k + 1);
        check_imported(path, &words, &data, d, at)?;
        return Ok(Imported {
            words,
            dim: d,
            data,
            invalid_utf8,
        });
    }
    let mut body = if header.is_some() { Vec::new() } else { first };
    body.extend_from_slice(&rest);
    // The line number of the first body line.
    let base = if header.is_some() { 2 } else { 1 };
    let mut dim = header.map(|h| h.1).unwrap_or(0);
    let mut lines = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let s = decode(line);
        let mut parts = s.split_ascii_whitespace();
        let Some(w) = parts.next() else { continue };
        let n = base + i;
        let vals: Vec<f32> = parts
            .map(|x| x.parse::<f32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                invalid(
                    path,
                    format!(
                        "line {n}: bad number in the record of '{}' (not word2vec text or binary?)",
                        crate::error::shown(w)
                    ),
                )
            })?;
        if vals.is_empty() {
            return Err(invalid(
                path,
                format!("line {n}: '{}' has no values", crate::error::shown(w)),
            ));
        }
        if dim == 0 {
            dim = vals.len();
        }
        if vals.len() != dim {
            return Err(invalid(
                path,
                format!(
                    "line {n}: '{}' has {} values, expected {dim}",
                    crate::error::shown(w),
                    vals.len()
                ),
            ));
        }
        words.push(w.to_string());
        lines.push(n);
        data.extend(vals);
    }
    if words.is_empty() {
        return Err(Error::InvalidInput {
            path: path.to_path_buf(),
            message: "no vectors found".into(),
        });
    }
    if let Some((v, _)) = header {
        if words.len() != v {
            return Err(invalid(
                path,
                format!(
                    "the header (line 1) says {v} vectors but the file holds {}{}",
                    words.len(),
                    if words.len() < v {
                        "; it is truncated"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    check_imported(path, &words, &data, dim, |k| format!("line {}", lines[k]))?;
    Ok(Imported {
        words,
        dim,
        data,
        invalid_utf8,
    })
}

/// Whether the first line of `body` is a word and `dim` numbers.
fn is_text_record(body: &[u8], dim: usize) -> bool {
    let end = memchr::memchr(b'\n', body).unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_ascii_whitespace();
    parts.next().is_some() && {
        let vals: Vec<&str> = parts.collect();
        vals.len() == dim && vals.iter().all(|x| x.parse::<f32>().is_ok())
    }
}

/// Whether `body` starts with a binary record of `dim` values: a word with
/// no line end in it, a space, `4 × dim` bytes, then a line end or the end.
fn has_binary_shape(body: &[u8], dim: usize) -> bool {
    let start = body.iter().take_while(|&&b| b == b'\n').count();
    let Some(sp) = memchr::memchr(b' ', &body[start..]) else {
        return false;
    };
    let end = start + sp + 1 + 4 * dim;
    sp > 0
        && !body[start..start + sp].contains(&b'\n')
        && (body.len() == end || body.get(end) == Some(&b'\n'))
}

/// Refuses empty and duplicate words, words holding white space or control
/// characters, and non-finite values; `at(k)`
/// names record `k` in the file ("line 7", "record 3").
fn check_imported(
    path: &Path,
    words: &[String],
    data: &[f32],
    dim: usize,
    at: impl Fn(usize) -> String,
) -> Result<()> {
    let mut seen: rustc_hash::FxHashMap<&str, usize> = Default::default();
    for (k, w) in words.iter().enumerate() {
        if w.is_empty() {
            return Err(invalid(path, format!("{}: empty word", at(k))));
        }
        // word2vec text splits its records at ASCII white space, and a
        // control character would reach the terminal with every query.
        if let Some(c) = w
            .chars()
            .find(|c| c.is_ascii_whitespace() || c.is_control())
        {
            return Err(invalid(
                path,
                format!(
                    "{}: the word {:?} holds the character {:?}; words cannot hold white space or control characters",
                    at(k),
                    w,
                    c
                ),
            ));
        }
        if let Some(j) = seen.insert(w.as_str(), k) {
            return Err(invalid(
                path,
                format!("{}: duplicate word '{w}' (first at {})", at(k), at(j)),
            ));
        }
    }
    if let Some(i) = data.iter().position(|x| !x.is_finite()) {
        let k = i / dim.max(1);
        return Err(invalid(
            path,
            format!(
                "{}: the vector of '{}' holds {} (value {}); vectors must be finite",
                at(k),
                words[k],
                data[i],
                i % dim.max(1) + 1
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_is_lenient_headerless_text_and_invalid_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.txt");
        let mut bytes = b"\xd0\xb0\xff 1 2\n".to_vec();
        bytes.extend_from_slice("слово 3 4\n\n".as_bytes());
        std::fs::write(&p, &bytes).unwrap();
        let im = import(&p).unwrap();
        assert_eq!(im.words, ["а\u{FFFD}", "слово"]);
        assert_eq!((im.dim, im.invalid_utf8), (2, 1));
        assert_eq!(im.data, [1.0, 2.0, 3.0, 4.0]);
        // With a header, and a record of the wrong width is refused with its word.
        std::fs::write(&p, "2 2\nа 1 2\nб 3\n").unwrap();
        let e = import(&p).unwrap_err().to_string();
        assert!(e.contains("line 3: 'б' has 1 values, expected 2"), "{e}");
    }

    fn binary(words: &[&str], rows: &[[f32; 2]]) -> Vec<u8> {
        let mut b = format!("{} 2\n", words.len()).into_bytes();
        for (w, r) in words.iter().zip(rows) {
            b.extend_from_slice(w.as_bytes());
            b.push(b' ');
            b.extend_from_slice(bytemuck::cast_slice(r));
            b.push(b'\n');
        }
        b
    }

    #[test]
    fn binary_and_text_are_told_by_the_first_record() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v");
        // Binary whose values are valid UTF-8 as bytes (0, 0.5, 2): it was
        // read as text ("bad number in the record of 'кот'").
        let rows = [[0.5f32, 2.0], [2.0, 0.5]];
        let b = binary(&["кот", "пёс"], &rows);
        assert!(std::str::from_utf8(&b).is_ok());
        std::fs::write(&p, &b).unwrap();
        let im = import(&p).unwrap();
        assert_eq!(im.words, ["кот", "пёс"]);
        assert_eq!(im.data, [0.5, 2.0, 2.0, 0.5]);
        // Text with windows-1251 words (not UTF-8): it was read as binary
        // ("record 2 of 2: truncated"); now text, the bytes replaced.
        std::fs::write(&p, b"2 2\n\xea\xee\xf2 1 0\n\xef\xb8\xf1 0 1\n").unwrap();
        let im = import(&p).unwrap();
        assert_eq!(im.words.len(), 2);
        assert_eq!(im.data, [1.0, 0.0, 0.0, 1.0]);
        assert!(im.invalid_utf8 > 0);
        // A byte-order mark before the header.
        std::fs::write(&p, "\u{feff}2 2\nкот 1 0\nпёс 0 1\n").unwrap();
        assert_eq!(import(&p).unwrap().words, ["кот", "пёс"]);
        // A no-break space stays inside a word (fields split at ASCII space).
        std::fs::write(&p, "1 2\nа\u{a0}б 1 0\n").unwrap();
        assert_eq!(import(&p).unwrap().words, ["а\u{a0}б"]);
    }

    #[test]
    fn words_with_white_space_or_control_characters_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v");
        for (word, shown) in [
            ("x\ty", "'\\t'"),
            ("x\ry", "'\\r'"),
            ("к\u{1b}от", "'\\u{1b}'"),
        ] {
            std::fs::write(&p, binary(&[word, "пёс"], &[[1.0, 0.0], [0.0, 1.0]])).unwrap();
            let e = import(&p).unwrap_err().to_string();
            assert!(
                e.contains("record 1: the word") && e.contains(shown) && e.contains("white space"),
                "{word:?}: {e}"
            );
        }
        std::fs::write(&p, "2 2\nк\u{1b}от 1 0\nпёс 0 1\n").unwrap();
        let e = import(&p).unwrap_err().to_string();
        assert!(e.contains("line 2: the word"), "{e}");
        // A header of two integers that are not both positive.
        std::fs::write(&p, "-3 2\nкот 1 0\n").unwrap();
        let e = import(&p).unwrap_err().to_string();
        assert!(e.contains("line 1: the header '-3 2'"), "{e}");
    }
}
