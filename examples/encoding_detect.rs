//! How often `w2v`'s encoding detector and chardetng (Mozilla's, by
//! encoding_rs's author) tell windows-1251 and KOI8-R apart, on snippets
//! of real Russian text of a given length, as written, in capitals and in
//! title case.
//!   cargo run --release --example encoding_detect -- TEXT.txt [SAMPLES]
use std::time::Instant;
use w2v::encoding::{detect, Detected, EncodingChoice};

fn chardet(b: &[u8]) -> Detected {
    let mut d = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    d.feed(b, true);
    let e = d.guess(None, chardetng::Utf8Detection::Deny);
    if e == encoding_rs::WINDOWS_1251 {
        Detected::Cp1251
    } else if e == encoding_rs::KOI8_U || e == encoding_rs::KOI8_R {
        Detected::Koi8R
    } else {
        Detected::Utf8
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).expect("read the text");
    let n: usize = args.get(2).map_or(300, |s| s.parse().unwrap());
    let chars: Vec<char> = text.chars().collect();
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    println!("chars\tcase\tencoding\tw2v_ok\tchardetng_ok\tsamples");
    let (mut t_ours, mut t_cd) = (0f64, 0f64);
    for len in [12usize, 24, 48, 96, 200, 1000, 4000, 20000] {
        for case in ["as-is", "upper", "title"] {
            for (enc, want) in [
                (encoding_rs::WINDOWS_1251, Detected::Cp1251),
                (encoding_rs::KOI8_R, Detected::Koi8R),
            ] {
                let (mut ours, mut cd, mut m) = (0, 0, 0);
                while m < n {
                    let at = (next() as usize) % (chars.len() - len);
                    let s: String = chars[at..at + len].iter().collect();
                    // Only snippets with Cyrillic letters say anything.
                    if !s
                        .chars()
                        .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap()))
                    {
                        continue;
                    }
                    let s = match case {
                        "upper" => s.to_uppercase(),
                        "title" => s
                            .split(' ')
                            .map(|w| {
                                let mut c = w.chars();
                                c.next().map_or(String::new(), |f| {
                                    f.to_uppercase().collect::<String>()
                                        + &c.as_str().to_lowercase()
                                })
                            })
                            .collect::<Vec<_>>()
                            .join(" "),
                        _ => s,
                    };
                    let (b, _, _) = enc.encode(&s);
                    let t = Instant::now();
                    ours += (detect(&b, EncodingChoice::Auto) == want) as usize;
                    t_ours += t.elapsed().as_secs_f64();
                    let t = Instant::now();
                    cd += (chardet(&b) == want) as usize;
                    t_cd += t.elapsed().as_secs_f64();
                    m += 1;
                }
                println!("{len}\t{case}\t{}\t{ours}\t{cd}\t{n}", enc.name());
            }
        }
    }
    println!("# time: w2v {t_ours:.3} s, chardetng {t_cd:.3} s");
}
