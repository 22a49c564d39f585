//! UN/EDIFACT syntax (ISO 9735): the UNA service string advice, segments, data elements
//! and components, and the release character. Knows nothing of PAXLST; [`crate::paxlst`]
//! reads the segments this yields.
//!
//! Bounded: at most [`MAX_SEGMENTS`] segments, [`MAX_ELEMENTS`] elements a segment and
//! [`MAX_COMPONENTS`] components an element; anything beyond is refused, naming the
//! segment, before more is read.

use crate::error::ManifestError;

/// Most segments one interchange may hold.
pub const MAX_SEGMENTS: usize = crate::MAX_PASSENGERS * 16 + 200;
/// Most data elements one segment may hold.
pub const MAX_ELEMENTS: usize = 40;
/// Most components one data element may hold.
pub const MAX_COMPONENTS: usize = 20;

/// The service characters (UNA, or the defaults of ISO 9735 when there is none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delimiters {
    /// Separates components of a composite element (default `:`).
    pub component: char,
    /// Separates data elements (default `+`).
    pub element: char,
    /// The decimal mark (default `.`); read, not otherwise used.
    pub decimal: char,
    /// Makes the next service character literal (default `?`).
    pub release: char,
    /// Separates repetitions (syntax 4: `*`; a space means none).
    pub repetition: char,
    /// Ends a segment (default `'`).
    pub segment: char,
}

impl Default for Delimiters {
    fn default() -> Self {
        Self {
            component: ':',
            element: '+',
            decimal: '.',
            release: '?',
            repetition: ' ',
            segment: '\'',
        }
    }
}

impl Delimiters {
    fn is_service(&self, c: char) -> bool {
        c == self.component
            || c == self.element
            || c == self.release
            || c == self.segment
            || (self.repetition != ' ' && c == self.repetition)
    }
}

/// One segment: its tag and its data elements, each a list of components, with release
/// characters already removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Position in the interchange, from 1 (the UNA is not a segment).
    pub index: usize,
    /// `UNB`, `NAD`, …
    pub tag: String,
    /// The data elements after the tag.
    pub elements: Vec<Vec<String>>,
}

impl Segment {
    /// Component `c` of element `e` (both from 0), empty when absent.
    pub fn get(&self, e: usize, c: usize) -> &str {
        self.elements
            .get(e)
            .and_then(|el| el.get(c))
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// Reads the UNA (if any) and every segment.
pub fn segments(text: &str) -> Result<(Delimiters, Vec<Segment>), ManifestError> {
    let text = text.trim_start_matches('\u{feff}').trim_start();
    let (d, rest) = match text.strip_prefix("UNA") {
        Some(rest) => {
            let chars: Vec<char> = rest.chars().take(6).collect();
            if chars.len() < 6 {
                return Err(ManifestError::Truncated(
                    "the UNA service string advice needs 6 characters after `UNA`".into(),
                ));
            }
            let d = Delimiters {
                component: chars[0],
                element: chars[1],
                decimal: chars[2],
                release: chars[3],
                repetition: chars[4],
                segment: chars[5],
            };
            let distinct = [d.component, d.element, d.release, d.segment];
            let mut sorted = distinct.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != distinct.len()
                || distinct
                    .iter()
                    .any(|c| c.is_alphanumeric() || c.is_whitespace())
            {
                return Err(ManifestError::segment(
                    0,
                    "UNA",
                    "service string advice",
                    "the component, element, release and segment characters must be distinct punctuation",
                ));
            }
            let skip: usize = chars.iter().map(|c| c.len_utf8()).sum();
            (d, &rest[skip..])
        }
        None => (Delimiters::default(), text),
    };
    Ok((d, split(d, rest)?))
}

fn split(d: Delimiters, text: &str) -> Result<Vec<Segment>, ManifestError> {
    let mut out: Vec<Segment> = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        // Line breaks between segments are common and not content.
        while chars.peek().is_some_and(|c| matches!(c, '\r' | '\n')) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let index = out.len() + 1;
        if index > MAX_SEGMENTS {
            return Err(ManifestError::segment(
                index,
                "?",
                "segment",
                format!("more than {MAX_SEGMENTS} segments in one interchange"),
            ));
        }
        let mut elements: Vec<Vec<String>> = vec![vec![String::new()]];
        let mut terminated = false;
        let mut length = 0usize;
        while let Some(c) = chars.next() {
            length += 1;
            if c == d.release {
                let Some(next) = chars.next() else {
                    return Err(ManifestError::Truncated(format!(
                        "segment {index} ({}) ends in the release character {:?}",
                        tag_so_far(&elements),
                        d.release
                    )));
                };
                if !d.is_service(next) {
                    return Err(ManifestError::segment(
                        index,
                        &tag_so_far(&elements),
                        format!("element {}", elements.len().saturating_sub(1)),
                        format!(
                            "bad release character: {:?} may only precede a service character ({}), not {next:?}",
                            d.release,
                            [d.component, d.element, d.release, d.segment]
                                .iter()
                                .map(|c| format!("{c:?}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                    ));
                }
                push(&mut elements, next);
            } else if c == d.segment {
                terminated = true;
                break;
            } else if c == d.element {
                if elements.len() > MAX_ELEMENTS {
                    return Err(ManifestError::segment(
                        index,
                        &tag_so_far(&elements),
                        "segment",
                        format!("more than {MAX_ELEMENTS} data elements"),
                    ));
                }
                elements.push(vec![String::new()]);
            } else if c == d.component {
                if let Some(last) = elements.last_mut() {
                    if last.len() >= MAX_COMPONENTS {
                        return Err(ManifestError::segment(
                            index,
                            &tag_so_far(&elements),
                            format!("element {}", elements.len().saturating_sub(1)),
                            format!("more than {MAX_COMPONENTS} components"),
                        ));
                    }
                    last.push(String::new());
                }
            } else if c.is_control() && !matches!(c, '\r' | '\n') {
                return Err(ManifestError::segment(
                    index,
                    &tag_so_far(&elements),
                    format!("element {}", elements.len().saturating_sub(1)),
                    format!("control character U+{:04X}", c as u32),
                ));
            } else if !matches!(c, '\r' | '\n') {
                push(&mut elements, c);
            }
            if length > crate::MAX_SEGMENT_CHARS {
                return Err(ManifestError::segment(
                    index,
                    &tag_so_far(&elements),
                    "segment",
                    format!("longer than {} characters", crate::MAX_SEGMENT_CHARS),
                ));
            }
        }
        let mut elements = elements.into_iter();
        let tag_el = elements.next().unwrap_or_default();
        let tag = tag_el.first().cloned().unwrap_or_default();
        if !terminated {
            let shown: String = tag.chars().take(3).collect();
            return Err(ManifestError::Truncated(format!(
                "segment {index} ({shown}) has no segment terminator {:?}",
                d.segment
            )));
        }
        if tag.len() != 3 || !tag.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ManifestError::segment(
                index,
                "?",
                "tag",
                format!(
                    "{:?} is not a segment tag (three capital letters)",
                    tag.chars().take(8).collect::<String>()
                ),
            ));
        }
        out.push(Segment {
            index,
            tag,
            elements: elements.collect(),
        });
    }
}

fn tag_so_far(elements: &[Vec<String>]) -> String {
    elements
        .first()
        .and_then(|e| e.first())
        .map(String::as_str)
        .unwrap_or("?")
        .to_string()
}

fn push(elements: &mut [Vec<String>], c: char) {
    if let Some(s) = elements.last_mut().and_then(|e| e.last_mut()) {
        s.push(c);
    }
}
