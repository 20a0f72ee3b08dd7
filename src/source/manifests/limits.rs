//! Bounds on what one manifest document may cost to parse, checked in one pass over its text
//! before the YAML parser sees it. A deeply nested document is slow to parse (a 200 kB one
//! took ~18 s) and no Kubernetes object needs it: a Service or EndpointSlice nests about ten
//! levels, a `kubectl get -o yaml` List one more.

/// Largest document accepted: a `kubectl get -o yaml` List of 10,000 Services and their
/// EndpointSlices is about 20 MB. The API server's own request limit is 3 MiB per object.
pub const MAX_DOCUMENT_BYTES: usize = 64 << 20;

/// Deepest nesting accepted (block indentation levels and flow brackets together).
pub const MAX_DEPTH: usize = 64;

/// Why a document is not parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum Excess {
    TooLarge(usize),
    TooDeep,
}

impl Excess {
    /// The `kproxy_rejected_objects_total{reason}` label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "document_too_large",
            Self::TooDeep => "document_too_deep",
        }
    }
}

impl std::fmt::Display for Excess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge(n) => write!(
                f,
                "the document is {n} bytes, more than the {MAX_DOCUMENT_BYTES} accepted"
            ),
            Self::TooDeep => write!(f, "the document nests deeper than {MAX_DEPTH} levels"),
        }
    }
}

/// Checks a YAML (or JSON) document's size and nesting depth.
pub fn check(doc: &str) -> Result<(), Excess> {
    if doc.len() > MAX_DOCUMENT_BYTES {
        return Err(Excess::TooLarge(doc.len()));
    }
    if depth_exceeds(doc, MAX_DEPTH) {
        return Err(Excess::TooDeep);
    }
    Ok(())
}

/// Whether the nesting of `doc` may exceed `max`. An over-estimate where YAML is ambiguous
/// to a one-pass scan (block scalars count their indentation): it errs towards refusing
/// only documents far from any real object.
fn depth_exceeds(doc: &str, max: usize) -> bool {
    // Indentation columns of the open block levels.
    let mut block: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    for line in doc.lines() {
        let bytes = line.as_bytes();
        let mut col = bytes.iter().take_while(|&&b| b == b' ').count();
        if flow == 0 {
            if col == bytes.len() || bytes[col] == b'#' {
                continue;
            }
            // `- - x` opens a level per dash.
            loop {
                while block.last().is_some_and(|&c| c >= col) {
                    block.pop();
                }
                block.push(col);
                if bytes.get(col) == Some(&b'-') && bytes.get(col + 1) == Some(&b' ') {
                    col += 2;
                    while bytes.get(col) == Some(&b' ') {
                        col += 1;
                    }
                    continue;
                }
                break;
            }
        }
        let mut quote: Option<u8> = None;
        let mut prev = b' ';
        let mut i = col;
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(b'"') if b == b'\\' => i += 1,
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None => {
                    let at_token = matches!(prev, b' ' | b'\t' | b'[' | b'{' | b',' | b':');
                    match b {
                        b'#' if matches!(prev, b' ' | b'\t') => break,
                        b'"' | b'\'' if at_token => quote = Some(b),
                        b'[' | b'{' if at_token || flow > 0 => flow += 1,
                        b']' | b'}' if flow > 0 => flow -= 1,
                        _ => {}
                    }
                }
            }
            if block.len() + flow > max {
                return true;
            }
            prev = b;
            i += 1;
        }
        if block.len() + flow > max {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_objects_pass() {
        let svc = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  \
                   metadata:\n    name: web\n    annotations:\n      a: '{\"x\": [1, {\"y\": 2}]}'\n  \
                   spec:\n    ports:\n    - name: http\n      port: 80 # [{\n    selector: {app: web}\n";
        assert_eq!(check(svc), Ok(()));
        let json = "{\"kind\": \"Service\", \"metadata\": {\"name\": \"it's\"},\n \"spec\": {\"ports\": [{\"port\": 80}]}}";
        assert_eq!(check(json), Ok(()));
    }

    #[test]
    fn deep_flow_block_and_dash_nesting_are_refused() {
        let flow = format!("a: {}1{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(check(&flow), Err(Excess::TooDeep));
        let block: String = (0..70)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        assert_eq!(check(&block), Err(Excess::TooDeep));
        let dashes = format!("{}x\n", "- ".repeat(70));
        assert_eq!(check(&dashes), Err(Excess::TooDeep));
        // Brackets in quotes and comments do not count.
        let quoted = format!("a: \"{}\" # {}\n", "[".repeat(100), "{".repeat(100));
        assert_eq!(check(&quoted), Ok(()));
    }

    #[test]
    fn huge_documents_are_refused_before_parsing() {
        let huge = "a".repeat(MAX_DOCUMENT_BYTES + 1);
        assert_eq!(check(&huge), Err(Excess::TooLarge(MAX_DOCUMENT_BYTES + 1)));
        assert!(check(&huge).unwrap_err().to_string().contains("bytes"));
    }
}
