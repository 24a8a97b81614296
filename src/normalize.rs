//! Russian text normalization: the contract every stage and every query uses.
//!
//! In: one line of raw UTF-8 text. Out: its tokens, lowercased, joined by
//! single spaces. `prep` writes one normalized segment per line into
//! `data/corpus.txt`; `neighbors`, `analogy` and `eval` pass their queries
//! through the same [`Normalizer`], so `Ёлка`, `елка` and `ЕЛКА` meet.
//!
//! The rules, in order:
//! 1. **Segmentation** by Unicode word boundaries (UAX #29, crate
//!    `unicode-segmentation`).
//! 2. **Letters only.** Inside a word segment, maximal runs of alphabetic
//!    characters become tokens; digits, `_`, apostrophes and punctuation
//!    split and are dropped. This matches the original pipeline's
//!    `re.findall(r"[^\W\d_]+", line.lower())`. With
//!    [`NumberMode::Token`], each run of digits becomes the token `<num>`.
//! 3. **Combining marks.** A combining breve after и/И makes й, a diaeresis
//!    after е/Е makes ё; any other combining mark (U+0300..U+036F, e.g. the
//!    stress mark in `за́мок`) is dropped and the word stays whole.
//! 4. **Hyphens.** With `hyphens = Keep` (default), `кто-то` and
//!    `санкт-петербург` stay one token: a single `-` (or U+2010) directly
//!    between two letter runs joins them. With `Split`, they are two tokens.
//! 5. **Lowercase** (full Unicode lowercase).
//! 6. **Latin look-alikes.** A token that has Cyrillic letters and whose every
//!    Latin letter is one of `a b c e h k m o p t x y` (after lowercasing;
//!    `b h k m t` come from the upper-case look-alikes `В Н К М Т`) has those
//!    replaced by their Cyrillic twins: `cреда` (Latin c) becomes `среда`.
//!    Tokens with other Latin letters are left alone.
//! 7. **ё → е** with [`YoMode::Fold`] (default); kept with [`YoMode::Keep`].
//! 8. **Length.** Tokens longer than `max_token_chars` characters are dropped
//!    whole, never cut.
//! 9. **Invisible joiners.** A soft hyphen (U+00AD), ZWNJ/ZWJ (U+200C/D),
//!    word joiner (U+2060) or U+FEFF inside a word is dropped without
//!    splitting it: `пере\u{AD}нос` is `перенос` (rule 2 would split it).
//!
//! **Fast path.** UAX #29 never breaks between two letters of the Latin or
//! Cyrillic scripts, and the rules above only look at letters, digits,
//! combining marks and single hyphens. So for a line whose characters are all
//! Latin (U+0000–U+024F, less the soft hyphen and ² ³ ¹ ¼ ½ ¾), combining accents
//! (U+0300–U+036F), Cyrillic (U+0400–U+052F) or ordinary general punctuation
//! (U+2010–U+2027, U+2030–U+205E), a character scanner gives exactly the
//! segmentation path's tokens, several times faster. Any other line (CJK,
//! Thai, format characters, emoji, ...) takes the segmentation path. The test
//! `fast_path_equals_segmentation_path` checks the two on random strings.
//!
//! **Byte scanner.** Most Russian lines hold only ASCII, Cyrillic
//! U+0400–U+045F and punctuation such as « » — … “ ”. For those, a scanner
//! over the UTF-8 bytes applies the same rules without decoding every
//! character or building tokens apart from the output; it hands any other
//! line to the character scanner. The same test checks it, and its output on
//! all of ru_lit is byte-identical to the character scanner's.

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

/// What to do with `ё`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum YoMode {
    /// Map ё to е (and Ё to е). The default.
    #[default]
    Fold,
    /// Keep ё.
    Keep,
}

/// What to do with digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NumberMode {
    /// Drop them (the original pipeline). The default.
    #[default]
    Drop,
    /// Replace each run of digits with the token `<num>`.
    Token,
}

/// What to do with a hyphen inside a word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HyphenMode {
    /// `кто-то` stays one token. The default.
    #[default]
    Keep,
    /// `кто-то` becomes `кто то`.
    Split,
}

/// Normalization settings. Recorded by `prep` in `data/manifest.json`
/// (`config.normalize`), carried by `vocab` (`summary.normalize`) and `train`
/// into the model manifest (`normalize`), whose queries apply them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NormalizeConfig {
    /// ё handling. By default, fold.
    pub yo: YoMode,
    /// Digit handling. By default, drop.
    pub numbers: NumberMode,
    /// Intra-word hyphen handling. By default, keep.
    pub hyphens: HyphenMode,
    /// Repair Latin look-alike letters in Cyrillic words. By default, true.
    pub repair_homoglyphs: bool,
    /// Longest token kept, in characters. By default, 40.
    pub max_token_chars: usize,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        NormalizeConfig {
            yo: YoMode::Fold,
            numbers: NumberMode::Drop,
            hyphens: HyphenMode::Keep,
            repair_homoglyphs: true,
            max_token_chars: 40,
        }
    }
}

/// Where a recorded [`NormalizeConfig`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NormalizeSource {
    /// Read from the corpus's prep manifest (its `config.normalize`).
    Prep,
    /// Nothing was recorded upstream (a corpus without a prep manifest, a
    /// vocabulary written before the settings were recorded, imported
    /// vectors): the default settings are assumed. The default.
    #[default]
    Default,
}

/// The token emitted for numbers with [`NumberMode::Token`].
pub const NUM_TOKEN: &str = "<num>";

/// Applies a [`NormalizeConfig`]. Cheap to clone; holds no buffers.
#[derive(Clone, Debug, Default)]
pub struct Normalizer {
    cfg: NormalizeConfig,
}

#[inline]
fn is_cyrillic(c: char) -> bool {
    matches!(c, '\u{0400}'..='\u{04FF}' | '\u{0500}'..='\u{052F}')
}

/// Characters the scanner handles exactly like the segmentation path.
#[inline]
pub fn fast_path_char(c: char) -> bool {
    let u = c as u32;
    // Not the soft hyphen (a format character) nor ² ³ ¹ ¼ ½ ¾, which
    // UAX #29 does not count as digits of a number.
    (u < 0x250 && !matches!(u, 0xAD | 0xB2 | 0xB3 | 0xB9 | 0xBC..=0xBE))
        || (0x300..=0x36F).contains(&u)
        || (0x400..=0x52F).contains(&u)
        || (0x2010..=0x2027).contains(&u)
        || (0x2030..=0x205E).contains(&u)
}

/// Invisible format characters that sit inside words: the soft hyphen
/// U+00AD, zero-width non-joiner and joiner U+200C/U+200D, the word joiner
/// U+2060 and U+FEFF. Dropped inside a word; separators elsewhere.
#[inline]
fn is_invisible_joiner(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
}

/// Alphabetic, with inline answers for ASCII and Cyrillic letters.
#[inline]
fn is_letter(c: char) -> bool {
    match c {
        'a'..='z' | 'A'..='Z' | 'А'..='я' | 'Ѐ'..='Џ' | 'ѐ'..='џ' => true,
        _ if c.is_ascii() => false,
        _ => c.is_alphabetic(),
    }
}

#[inline]
fn homoglyph(c: char) -> Option<char> {
    Some(match c {
        'a' => 'а',
        'b' => 'в',
        'c' => 'с',
        'e' => 'е',
        'h' => 'н',
        'k' => 'к',
        'm' => 'м',
        'o' => 'о',
        'p' => 'р',
        't' => 'т',
        'x' => 'х',
        'y' => 'у',
        _ => return None,
    })
}

/// The token being built.
#[derive(Default)]
struct Tok {
    text: String,
    chars: usize,
    has_cyr: bool,
    has_latin: bool,
    /// True when the last char pushed was a letter (a hyphen may follow).
    open: bool,
}

impl Normalizer {
    /// A normalizer for `cfg`.
    pub fn new(cfg: NormalizeConfig) -> Self {
        Normalizer { cfg }
    }

    /// The settings in use.
    pub fn config(&self) -> &NormalizeConfig {
        &self.cfg
    }

    /// Appends the tokens of `line` to `out`, space-separated (a space is put
    /// before the first one only if `out` is non-empty and does not end in a
    /// newline). Returns the number of tokens appended.
    pub fn normalize_into(&self, line: &str, out: &mut String) -> usize {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        let n = self.normalize_into_bytes(line, &mut bytes);
        if n > 0 {
            // Both scanners write whole UTF-8 characters only.
            emit(&String::from_utf8_lossy(&bytes), out);
        }
        n
    }

    /// [`Self::normalize_into`] onto a byte buffer, as `prep` writes it:
    /// the byte scanner appends in place, and only the rare line it does not
    /// handle goes through a `String`.
    pub fn normalize_into_bytes(&self, line: &str, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        if let Some(n) = self.normalize_bytes(line, out) {
            return n;
        }
        out.truncate(start);
        let mut s = String::new();
        let n = if line.chars().all(fast_path_char) {
            self.normalize_scan(line, &mut s)
        } else {
            self.normalize_segmented(line, &mut s)
        };
        if n > 0 {
            if needs_space(out) {
                out.push(b' ');
            }
            out.extend_from_slice(s.as_bytes());
        }
        n
    }

    /// The byte scanner: [`Self::normalize_scan`]'s rules for lines of ASCII,
    /// Cyrillic U+0400–U+045F and common punctuation (« » — … “ ” and the
    /// like), reading UTF-8 bytes and writing tokens straight into `out`
    /// (same separator rule as [`Self::normalize_into`]). Returns `None` at
    /// the first character it does not handle (the caller truncates `out`
    /// and takes the general path).
    ///
    /// Lowercasing keeps byte lengths and separators shrink to one space, so
    /// a line's tokens fit in its length + 1 bytes: `out` is sized once and
    /// written by index through a local slice, a letter per table lookup.
    /// Only `<num>` tokens and look-alike repairs, which can grow, re-size.
    fn normalize_bytes(&self, line: &str, out: &mut Vec<u8>) -> Option<usize> {
        let b = line.as_bytes();
        let keep_hyphen = self.cfg.hyphens == HyphenMode::Keep;
        let num_token = self.cfg.numbers == NumberMode::Token;
        let fold = self.cfg.yo == YoMode::Fold;
        let mut n = 0usize;
        let mut in_digits = false;
        let mut w = out.len();
        out.resize(w + b.len() + 1, 0);
        let mut buf = &mut out[..];
        let mut i = 0usize;
        while i < b.len() {
            let x = b[i];
            // Between tokens: separators (and digits) until a letter.
            let letter = match x {
                0x00..=0x7F => ASCII_LOWER[x as usize] != 0,
                0xD0 | 0xD1 => {
                    if cyr_lower(x, *b.get(i + 1)?) == [0, 0] {
                        // U+0460..U+047F: the general path.
                        return None;
                    }
                    true
                }
                0xC2 => {
                    // U+0080..U+00BF: separators, except the letters ª µ º
                    // and the soft hyphen and ² ³ ¹ ¼ ½ ¾ (general path).
                    let y = *b.get(i + 1)?;
                    if matches!(
                        y,
                        0xAA | 0xAD | 0xB2 | 0xB3 | 0xB5 | 0xB9 | 0xBA | 0xBC..=0xBE
                    ) {
                        return None;
                    }
                    i += 2;
                    in_digits = false;
                    continue;
                }
                0xE2 => {
                    // U+2010..U+2027 and U+2030..U+205E: punctuation; U+2010
                    // is a hyphen, handled by the general path.
                    let (y, z) = (*b.get(i + 1)?, *b.get(i + 2)?);
                    let u = ((y as u32 & 0x3F) << 6) | (z as u32 & 0x3F);
                    if !((0x11..=0x27).contains(&u) || (0x30..=0x5E).contains(&u)) {
                        return None;
                    }
                    i += 3;
                    in_digits = false;
                    continue;
                }
                _ => return None,
            };
            let sep = needs_space(&buf[..w]);
            if !letter {
                let digit = x.is_ascii_digit();
                if digit && num_token && !in_digits {
                    let t = NUM_TOKEN.as_bytes();
                    let need = w + 1 + t.len() + (b.len() - i) + 1;
                    if buf.len() < need {
                        out.resize(need, 0);
                        buf = &mut out[..];
                    }
                    if sep {
                        buf[w] = b' ';
                        w += 1;
                    }
                    buf[w..w + t.len()].copy_from_slice(t);
                    w += t.len();
                    n += 1;
                }
                in_digits = digit;
                i += 1;
                continue;
            }
            in_digits = false;
            // A token: letter runs, joined by single hyphens when kept.
            if sep {
                buf[w] = b' ';
                w += 1;
            }
            let start = w;
            let (mut chars, mut latin, mut cyr) = (0usize, false, false);
            loop {
                while let Some(&x) = b.get(i) {
                    if x < 0x80 {
                        let l = ASCII_LOWER[x as usize];
                        if l == 0 {
                            break;
                        }
                        buf[w] = l;
                        w += 1;
                        latin = true;
                        i += 1;
                    } else if x == 0xD0 || x == 0xD1 {
                        let mut l = cyr_lower(x, *b.get(i + 1)?);
                        if l == [0, 0] {
                            return None;
                        }
                        if fold && l == [0xD1, 0x91] {
                            l = [0xD0, 0xB5];
                        }
                        buf[w..w + 2].copy_from_slice(&l);
                        w += 2;
                        cyr = true;
                        i += 2;
                    } else {
                        break;
                    }
                    chars += 1;
                }
                // `-` then a letter continues the token.
                let next_is_letter = |j: usize| match b.get(j) {
                    Some(&y) if y < 0x80 => ASCII_LOWER[y as usize] != 0,
                    Some(&y @ (0xD0 | 0xD1)) => {
                        b.get(j + 1).is_some_and(|&z| cyr_lower(y, z) != [0, 0])
                    }
                    _ => false,
                };
                if keep_hyphen && b.get(i) == Some(&b'-') && next_is_letter(i + 1) {
                    buf[w] = b'-';
                    w += 1;
                    chars += 1;
                    i += 1;
                    continue;
                }
                break;
            }
            // Close the token: drop it (with its separator) when too long,
            // repair look-alikes when it mixes scripts.
            if chars > self.cfg.max_token_chars {
                w = if sep { start - 1 } else { start };
                continue;
            }
            n += 1;
            if cyr && latin {
                let fixed = std::str::from_utf8(&buf[start..w])
                    .ok()
                    .and_then(|t| self.repaired(t, true));
                if let Some(fixed) = fixed {
                    let need = start + fixed.len() + (b.len() - i) + 1;
                    if buf.len() < need {
                        out.resize(need, 0);
                        buf = &mut out[..];
                    }
                    buf[start..start + fixed.len()].copy_from_slice(fixed.as_bytes());
                    w = start + fixed.len();
                }
            }
        }
        out.truncate(w);
        Some(n)
    }

    /// The character scanner for lines of [`fast_path_char`]s.
    fn normalize_scan(&self, line: &str, out: &mut String) -> usize {
        let mut tok = Tok::default();
        let mut n = 0usize;
        let mut pending_hyphen = false;
        let mut in_digits = false;
        for c in line.chars() {
            if is_letter(c) {
                in_digits = false;
                if pending_hyphen {
                    tok.text.push('-');
                    tok.chars += 1;
                    pending_hyphen = false;
                }
                self.push_letter(c, &mut tok);
            } else if ('\u{0300}'..='\u{036F}').contains(&c) && tok.open && !pending_hyphen {
                self.combine(c, &mut tok);
            } else if (c == '-' || c == '\u{2010}')
                && self.cfg.hyphens == HyphenMode::Keep
                && tok.open
                && !pending_hyphen
            {
                pending_hyphen = true;
            } else {
                pending_hyphen = false;
                n += self.flush(&mut tok, out);
                let digit = c.is_ascii_digit();
                if digit && self.cfg.numbers == NumberMode::Token && !in_digits {
                    n += emit(NUM_TOKEN, out);
                }
                in_digits = digit;
            }
        }
        n += self.flush(&mut tok, out);
        n
    }

    /// The general path: Unicode word segmentation first.
    fn normalize_segmented(&self, line: &str, out: &mut String) -> usize {
        let mut tok = Tok::default();
        let mut n = 0usize;
        let mut pending_hyphen = false;
        for seg in line.split_word_bounds() {
            let mut chars = seg.chars();
            let first = chars.next().unwrap_or(' ');
            let single = chars.next().is_none();
            if single && (first == '-' || first == '\u{2010}') {
                // A hyphen joins only if a letter run is open right before it.
                if self.cfg.hyphens == HyphenMode::Keep && tok.open && !pending_hyphen {
                    pending_hyphen = true;
                } else {
                    n += self.flush(&mut tok, out);
                    pending_hyphen = false;
                }
                continue;
            }
            if single && !first.is_alphanumeric() {
                // Whitespace or punctuation: close everything.
                n += self.flush(&mut tok, out);
                pending_hyphen = false;
                continue;
            }
            let join = pending_hyphen && first.is_alphabetic();
            pending_hyphen = false;
            if join {
                tok.text.push('-');
                tok.chars += 1;
            } else {
                n += self.flush(&mut tok, out);
            }
            n += self.segment(seg, &mut tok, out);
        }
        n += self.flush(&mut tok, out);
        n
    }

    /// Feeds one word-ish segment; letter runs go to `tok`, and every run but
    /// the last is flushed.
    fn segment(&self, seg: &str, tok: &mut Tok, out: &mut String) -> usize {
        let mut n = 0usize;
        let mut in_digits = false;
        for c in seg.chars() {
            if c.is_alphabetic() {
                in_digits = false;
                self.push_letter(c, tok);
            } else if ('\u{0300}'..='\u{036F}').contains(&c) && tok.open {
                self.combine(c, tok);
            } else if is_invisible_joiner(c) {
                // Inside a word segment (UAX #29 never breaks at these) a
                // soft hyphen or joiner neither splits nor stays: it is
                // dropped, so `пере\u{AD}нос` is `перенос`.
            } else {
                n += self.flush(tok, out);
                if c.is_numeric() && self.cfg.numbers == NumberMode::Token && !in_digits {
                    n += emit(NUM_TOKEN, out);
                }
                in_digits = c.is_numeric();
            }
        }
        n
    }

    /// A combining mark after a letter: compose й / ё, drop the rest
    /// (stress marks).
    #[inline]
    fn combine(&self, c: char, tok: &mut Tok) {
        let composed = match (tok.text.chars().last(), c) {
            (Some('и'), '\u{0306}') => Some('й'),
            (Some('е'), '\u{0308}') => Some('ё'),
            _ => None,
        };
        if let Some(nc) = composed {
            tok.text.pop();
            tok.chars -= 1;
            self.push_letter(nc, tok);
        }
    }

    #[inline]
    fn push_one(&self, l: char, tok: &mut Tok) {
        let l = if l == 'ё' && self.cfg.yo == YoMode::Fold {
            'е'
        } else {
            l
        };
        if l.is_ascii() {
            tok.has_latin = true;
        } else if is_cyrillic(l) {
            tok.has_cyr = true;
        }
        tok.text.push(l);
        tok.chars += 1;
    }

    #[inline]
    fn push_letter(&self, c: char, tok: &mut Tok) {
        match c {
            'A'..='Z' | 'А'..='Я' => {
                self.push_one(char::from_u32(c as u32 + 32).expect("in range"), tok)
            }
            'Ѐ'..='Џ' => self.push_one(char::from_u32(c as u32 + 80).expect("in range"), tok),
            'a'..='z' | 'а'..='я' | 'ѐ'..='џ' => self.push_one(c, tok),
            _ => {
                for l in c.to_lowercase() {
                    self.push_one(l, tok);
                }
            }
        }
        tok.open = true;
    }

    /// Finishes the token being built: repair, length check, emit.
    fn flush(&self, tok: &mut Tok, out: &mut String) -> usize {
        tok.open = false;
        if tok.text.is_empty() {
            return 0;
        }
        let mut n = 0;
        if tok.chars <= self.cfg.max_token_chars {
            n = match self.repaired(&tok.text, tok.has_cyr && tok.has_latin) {
                Some(fixed) => emit(&fixed, out),
                None => emit(&tok.text, out),
            };
        }
        tok.text.clear();
        tok.chars = 0;
        tok.has_cyr = false;
        tok.has_latin = false;
        n
    }

    /// `token` with its Latin look-alikes replaced by their Cyrillic twins
    /// (rule 6), when it mixes scripts (`mixed`), repair is on and every
    /// Latin letter has a twin; otherwise `None`.
    fn repaired(&self, token: &str, mixed: bool) -> Option<String> {
        let all_twins = || {
            token
                .chars()
                .all(|c| !c.is_ascii_alphabetic() || homoglyph(c).is_some())
        };
        (mixed && self.cfg.repair_homoglyphs && all_twins())
            .then(|| token.chars().map(|c| homoglyph(c).unwrap_or(c)).collect())
    }

    /// Normalizes a query the way `prep` normalizes text: the tokens joined
    /// by spaces, or `None` when nothing is left.
    pub fn normalize_query(&self, text: &str) -> Option<String> {
        let mut out = String::new();
        (self.normalize_into(text, &mut out) > 0).then_some(out)
    }
}

/// The separator rule on bytes ([`emit`]'s on a `String`): a token after
/// others on the same line is preceded by a space.
#[inline]
fn needs_space(out: &[u8]) -> bool {
    out.last().is_some_and(|&c| c != b'\n')
}

/// ASCII letters lowercased; 0 for every other byte.
const ASCII_LOWER: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut c = b'a';
    while c <= b'z' {
        t[c as usize] = c;
        t[(c - 32) as usize] = c;
        c += 1;
    }
    t
};

/// The lowercase UTF-8 bytes of the Cyrillic letter U+0400..U+045F encoded
/// as `[x, y]` (x = 0xD0 or 0xD1), or `[0, 0]` for U+0460..U+047F.
#[inline]
fn cyr_lower(x: u8, y: u8) -> [u8; 2] {
    CYR_LOWER[(((x & 1) as usize) << 6) | (y & 0x3F) as usize]
}

const CYR_LOWER: [[u8; 2]; 128] = {
    let mut t = [[0u8; 2]; 128];
    let mut u = 0x400u32;
    while u < 0x460 {
        let l = match u {
            0x410..=0x42F => u + 0x20,
            0x400..=0x40F => u + 0x50,
            _ => u,
        };
        t[(u - 0x400) as usize] = [0xC0 | (l >> 6) as u8, 0x80 | (l & 0x3F) as u8];
        u += 1;
    }
    t
};

#[inline]
fn emit(t: &str, out: &mut String) -> usize {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push(' ');
    }
    out.push_str(t);
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        let mut out = String::new();
        Normalizer::default().normalize_into(s, &mut out);
        out
    }

    fn norm_with(cfg: NormalizeConfig, s: &str) -> String {
        let mut out = String::new();
        Normalizer::new(cfg).normalize_into(s, &mut out);
        out
    }

    #[test]
    fn golden_cases() {
        let cases = [
            ("Привет, Мир!", "привет мир"),
            ("ЁЛКА ёлка Ёлка", "елка елка елка"),
            ("В 1812 году", "в году"),
            ("кто-то сказал: «что-нибудь»", "кто-то сказал что-нибудь"),
            ("cреда", "среда"), // Latin c
            ("HОВЫЙ", "новый"), // Latin H
            ("iPhone и Android", "iphone и android"),
            ("abc123def", "abc def"),
            ("тест😀смайл", "тест смайл"),
            ("за\u{0301}мок", "замок"), // stress mark
            ("и\u{0306}од", "йод"),     // decomposed й
            ("", ""),
            ("  ,,, !!! ", ""),
            ("word_with_underscores", "word with underscores"),
            ("д'Артаньян", "д артаньян"),
            ("Он - дурак", "он дурак"), // spaced dash is not a hyphen
            ("--а-б--", "а-б"),
            ("Straße", "straße"),
            ("пере\u{00AD}нос", "перенос"),         // soft hyphen
            ("ПЕРЕ\u{00AD}НОС\u{00AD}", "перенос"), // also at the end
            ("сло\u{2060}во и\u{200D}мя", "слово имя"),
            ("один\u{200B}два", "один два"), // a zero-width space separates
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), want, "input {input:?}");
        }
    }

    #[test]
    fn yo_keep_and_numbers_token_and_split_hyphens() {
        let cfg = NormalizeConfig {
            yo: YoMode::Keep,
            numbers: NumberMode::Token,
            hyphens: HyphenMode::Split,
            ..Default::default()
        };
        assert_eq!(
            norm_with(cfg.clone(), "Ёлка 2024 года, кто-то"),
            "ёлка <num> года кто то"
        );
        assert_eq!(norm_with(cfg, "3.14 и 42"), "<num> <num> и <num>");
    }

    #[test]
    fn byte_scanner_grows_the_output_where_tokens_outgrow_the_line() {
        // `<num>` (5 bytes for a 1-byte digit) and look-alike repairs (1
        // Latin byte to 2 Cyrillic bytes) outgrow the line + 1 sized at the
        // start; the scanner must re-size, not cut or fail.
        let n = Normalizer::new(NormalizeConfig {
            numbers: NumberMode::Token,
            ..Default::default()
        });
        for (line, want, tokens) in [
            ("1 2 3 4 5", "<num> <num> <num> <num> <num>", 5),
            ("аcccc 7", "асссс <num>", 2),
            ("ТOOO", "тооо", 1),
        ] {
            let mut out = b"x\n".to_vec();
            assert_eq!(n.normalize_bytes(line, &mut out), Some(tokens), "{line}");
            assert_eq!(out, format!("x\n{want}").as_bytes(), "{line}");
        }
    }

    #[test]
    fn fast_path_equals_segmentation_path() {
        // Random strings over the fast-path alphabet, rich in the characters
        // whose handling could differ: hyphens, apostrophes, digits,
        // combining marks, punctuation, spaces, mixed scripts.
        let alphabet: Vec<char> = "аБвгДеёЁжийКлмнопрстуфхцчшщъыьэюяАЯЀЏѐџҐґabcXYZéßÀ×÷-‐ '’.,:;!?«»—–…\"()[]_0123456789\t\u{0301}\u{0306}\u{0308}\u{2019}"
            .chars()
            .collect();
        // Every other line only from what the byte scanner handles.
        let byte_safe: Vec<char> = alphabet
            .iter()
            .copied()
            .filter(|&c| {
                let mut one = Vec::new();
                Normalizer::default()
                    .normalize_bytes(&c.to_string(), &mut one)
                    .is_some()
            })
            .collect();
        assert!(byte_safe.len() > 60 && byte_safe.len() < alphabet.len());
        let mut rng = crate::rng::stream(11, &[]);
        let cfgs = [
            NormalizeConfig::default(),
            NormalizeConfig {
                yo: YoMode::Keep,
                numbers: NumberMode::Token,
                hyphens: HyphenMode::Split,
                ..Default::default()
            },
            NormalizeConfig {
                numbers: NumberMode::Token,
                max_token_chars: 4,
                ..Default::default()
            },
        ];
        let mut byte_answers = 0;
        for cfg in cfgs {
            let n = Normalizer::new(cfg);
            for k in 0..20_000 {
                let len = 1 + crate::rng::below(&mut rng, 24) as usize;
                let abc = if k % 2 == 0 { &alphabet } else { &byte_safe };
                let s: String = (0..len)
                    .map(|_| abc[crate::rng::below(&mut rng, abc.len() as u64) as usize])
                    .collect();
                assert!(s.chars().all(fast_path_char));
                let (mut a, mut b) = (String::new(), String::new());
                let na = n.normalize_scan(&s, &mut a);
                let nb = n.normalize_segmented(&s, &mut b);
                assert_eq!((a.as_str(), na), (b.as_str(), nb), "input {s:?}");
                // The byte scanner, where it answers, agrees too (also when
                // appending to a non-empty output).
                let mut c = b"x".to_vec();
                if let Some(nc) = n.normalize_bytes(&s, &mut c) {
                    let want = if b.is_empty() {
                        "x".to_string()
                    } else {
                        format!("x {b}")
                    };
                    assert_eq!((c.as_slice(), nc), (want.as_bytes(), nb), "input {s:?}");
                    byte_answers += 1;
                }
            }
        }
        // The byte scanner answered every restricted line, and some others.
        assert!(byte_answers > 30_000, "{byte_answers}");
        // And lines outside the alphabet take the segmentation path.
        assert!(!"日本語".chars().all(fast_path_char));
        assert!(!"18²9".chars().all(fast_path_char));
        assert_eq!(
            norm_with(
                NormalizeConfig {
                    numbers: NumberMode::Token,
                    ..Default::default()
                },
                "18²9"
            ),
            "<num> <num> <num>"
        );
        assert_eq!(norm("日本語テキスト"), "日 本 語 テキスト");
    }

    #[test]
    fn long_tokens_are_dropped_whole() {
        let cfg = NormalizeConfig {
            max_token_chars: 5,
            ..Default::default()
        };
        assert_eq!(norm_with(cfg, "короткое длинн дом"), "длинн дом");
    }

    #[test]
    fn homoglyph_repair_only_for_lookalikes() {
        // 'z' has no Cyrillic twin: left alone.
        assert_eq!(norm("cлоzо"), "cлоzо");
        let off = NormalizeConfig {
            repair_homoglyphs: false,
            ..Default::default()
        };
        assert_eq!(norm_with(off, "cреда"), "cреда");
    }

    #[test]
    fn query_normalization() {
        let n = Normalizer::default();
        assert_eq!(n.normalize_query("Ёлка").as_deref(), Some("елка"));
        assert_eq!(n.normalize_query("ЕЛКА").as_deref(), Some("елка"));
        assert_eq!(n.normalize_query("123"), None);
    }
}
