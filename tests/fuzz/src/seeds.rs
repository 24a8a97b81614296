//! Seed inputs for every target, generated here (no third-party text): a
//! few made-up Russian sentences in each format, and a small model.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use w2v::model::{ModelDir, ModelParts, Producer};
use w2v::normalize::{NormalizeConfig, NormalizeSource};

/// Made-up lines exercising case, ё, hyphens, digits, Latin look-alikes,
/// the soft hyphen, punctuation and emoji.
const LINES: [&str; 6] = [
    "Ёлка стояла в лесу, и кто-то пел: «ля-ля».",
    "В 2024 году КОТ (кoт с латинской o) ел 3,5 кг рыбы!",
    "пере\u{00ad}нос — слово; e-mail и т.д. 😀",
    "Mixed English and русский текст here.",
    "",
    "  \tпробелы   и\u{00a0}неразрывный пробел  ",
];

fn text() -> String {
    LINES.join("\n") + "\n"
}

fn jsonl() -> String {
    let mut s = String::new();
    for l in LINES {
        s += &serde_json::json!({ "text": l, "id": 1 }).to_string();
        s.push('\n');
    }
    s + "{\"body\": \"нет поля\"}\nне json\n{\"text\": 5}\n"
}

fn conllu() -> String {
    "# sent_id = 1\n# text = Кот спит.\n1\tКот\tкот\tNOUN\t_\t_\t2\tnsubj\t_\t_\n2\tспит\tспать\tVERB\t_\t_\t0\troot\t_\tSpaceAfter=No\n3\t.\t.\tPUNCT\t_\t_\t2\tpunct\t_\t_\n\n1-2\tвоттак\t_\t_\t_\t_\t_\t_\t_\t_\n1\tвот\tвот\tPART\t_\t_\t0\troot\t_\t_\n2\tтак\tтак\tADV\t_\t_\t1\tadvmod\t_\t_\n\n".into()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn parquet(rows: &[&str], group_rows: usize, zstd: bool) -> Vec<u8> {
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::record_batch::RecordBatch;
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    let text: ArrayRef = Arc::new(StringArray::from(rows.to_vec()));
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows.len() as i64));
    let batch = RecordBatch::try_from_iter([("id", ids), ("text", text)]).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .set_compression(if zstd {
            Compression::ZSTD(ZstdLevel::default())
        } else {
            Compression::UNCOMPRESSED
        })
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

/// Archive entries: documents under `texts/`, metadata that is skipped, a
/// CoNLL-U entry and a social-segment document with its separators.
fn entries() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("meta/metatable.csv", b"id;title\n1;x\n".to_vec()),
        ("texts/2015/01/a.txt", text().into_bytes()),
        (
            "texts/b.txt",
            "\u{feff}DataBaseItem: 1\nпервый пост\nDataBaseItem: 2\nвторой пост\n"
                .as_bytes()
                .to_vec(),
        ),
        ("texts/c.conllu", conllu().into_bytes()),
        ("tagged_texts/a.txt", b"x\ty\n".to_vec()),
    ]
}

fn tar_bytes() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries() {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

fn zip_bytes(deflate: bool) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    });
    for (name, data) in entries() {
        z.start_file(name, opts).unwrap();
        z.write_all(&data).unwrap();
    }
    z.finish().unwrap().into_inner()
}

const WORDS: [&str; 4] = ["кот", "собака", "дом", "ёлка"];

fn vectors() -> Vec<f32> {
    vec![
        0.1, 0.2, 0.3, -0.4, 0.5, 0.6, 0.7, -0.8, 0.9, 1.0, 1.1, -1.2,
    ]
}

/// A small valid model directory (4 words × 3 dims, with `output.npy`).
pub fn write_model(dir: &Path) {
    let words: Vec<String> = WORDS.iter().map(|w| w.to_string()).collect();
    let input = vectors();
    let output: Vec<f32> = input.iter().map(|x| x * 0.5).collect();
    ModelDir::write(
        dir,
        &ModelParts {
            producer: Producer::Train,
            words: &words,
            input: &input,
            output: Some(&output),
            dim: 3,
            normalize: NormalizeConfig::default(),
            normalize_source: NormalizeSource::Default,
            seed: 1,
            config: serde_json::Value::Null,
            inputs: Vec::new(),
            summary: serde_json::Value::Null,
        },
    )
    .expect("write seed model");
}

fn w2v_text(header: bool) -> Vec<u8> {
    let v = vectors();
    let mut s = if header {
        "4 3\n".to_string()
    } else {
        String::new()
    };
    for (i, w) in WORDS.iter().enumerate() {
        s += w;
        for x in &v[i * 3..i * 3 + 3] {
            s += &format!(" {x}");
        }
        s.push('\n');
    }
    s.into_bytes()
}

fn w2v_bin() -> Vec<u8> {
    let v = vectors();
    let mut b = b"4 3\n".to_vec();
    for (i, w) in WORDS.iter().enumerate() {
        b.extend_from_slice(w.as_bytes());
        b.push(b' ');
        for x in &v[i * 3..i * 3 + 3] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b.push(b'\n');
    }
    b
}

fn with(sel: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![sel];
    v.extend_from_slice(body);
    v
}

/// The seeds of `target`.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "reader_lines" => vec![
            with(0, text().as_bytes()),
            with(0x10, text().as_bytes()),
            with(0x20, text().as_bytes()),
            with(1, jsonl().as_bytes()),
            with(2, conllu().as_bytes()),
            with(0, &gzip(text().as_bytes())),
            with(0, &zstd::encode_all(text().as_bytes(), 3).unwrap()),
        ],
        "reader_parquet" => {
            let rows: Vec<&str> = LINES.to_vec();
            vec![
                with(0, &parquet(&rows, 1024, false)),
                with(0, &parquet(&rows, 2, true)),
            ]
        }
        "reader_archive" => vec![
            with(0, &tar_bytes()),
            with(1, &zip_bytes(true)),
            with(1, &zip_bytes(false)),
        ],
        "normalize" => (0u8..32)
            .flat_map(|sel| LINES.iter().map(move |l| with(sel, l.as_bytes())))
            .collect(),
        "import" => vec![w2v_text(true), w2v_text(false), w2v_bin()],
        "model_dir" => {
            let d = tempfile::tempdir().unwrap();
            write_model(d.path());
            let mut out = Vec::new();
            for (i, f) in [
                "model.manifest.json",
                "words.txt",
                "input.npy",
                "norms.npy",
                "output.npy",
            ]
            .iter()
            .enumerate()
            {
                let bytes = std::fs::read(d.path().join(f)).unwrap();
                out.push(with(i as u8, &bytes));
                out.push(with(0x80 | i as u8, &bytes));
            }
            out
        }
        _ => panic!("unknown fuzz target {target}"),
    }
}

/// Every target's name.
pub const TARGETS: [&str; 6] = [
    "reader_lines",
    "reader_parquet",
    "reader_archive",
    "normalize",
    "import",
    "model_dir",
];
