//! One rule's text split into matches and a target, as iptables-restore reads it.

use super::{Match, Opt, Rule, Target};

/// iptables' built-in verdicts and target extensions (so that a node's whole iptables-save,
/// with other software's rules, parses); any other target must be a chain of the table.
const TARGET_EXTENSIONS: &[&str] = &[
    "ACCEPT",
    "DROP",
    "RETURN",
    "QUEUE",
    "AUDIT",
    "CHECKSUM",
    "CLASSIFY",
    "CLUSTERIP",
    "CONNMARK",
    "CONNSECMARK",
    "CT",
    "DNAT",
    "DSCP",
    "ECN",
    "HL",
    "HMARK",
    "IDLETIMER",
    "LED",
    "LOG",
    "MARK",
    "MASQUERADE",
    "NETMAP",
    "NFLOG",
    "NFQUEUE",
    "NOTRACK",
    "RATEEST",
    "REDIRECT",
    "REJECT",
    "SECMARK",
    "SET",
    "SNAT",
    "SYNPROXY",
    "TCPMSS",
    "TCPOPTSTRIP",
    "TEE",
    "TOS",
    "TPROXY",
    "TRACE",
    "TTL",
    "ULOG",
];

/// Whether `name` is a verdict or target extension rather than a chain.
pub fn is_standard_target(name: &str) -> bool {
    TARGET_EXTENSIONS.contains(&name)
}

/// A word of a rule, and whether it was quoted (a quoted `-x` is a value, not an option).
struct Token {
    text: String,
    quoted: bool,
}

/// Splits a rule as iptables-restore does: whitespace separates words; inside double
/// quotes, a backslash escapes the next character and the closing quote ends the word.
fn tokenize(spec: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut in_quote = false;
    let mut escaped = false;
    for c in spec.chars() {
        if in_quote {
            if escaped {
                word.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quote = false;
                out.push(Token {
                    text: std::mem::take(&mut word),
                    quoted: true,
                });
                quoted = false;
            } else {
                word.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                in_quote = true;
                quoted = true;
            }
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(Token {
                        text: std::mem::take(&mut word),
                        quoted,
                    });
                    quoted = false;
                }
            }
            c => word.push(c),
        }
    }
    if in_quote {
        return Err("unterminated quote".to_string());
    }
    if !word.is_empty() {
        out.push(Token { text: word, quoted });
    }
    Ok(out)
}

/// Parses the text after `-A <chain> ` into matches and a target.
pub fn parse_rule(spec: &str) -> Result<Rule, String> {
    let tokens = tokenize(spec)?;
    let is_option = |t: &Token| !t.quoted && t.text.len() > 1 && t.text.starts_with('-');
    let is_bang = |t: &Token| !t.quoted && t.text == "!";
    let mut matches = vec![Match {
        module: String::new(),
        options: Vec::new(),
    }];
    let mut target: Option<Target> = None;
    let mut negated = false;
    let mut i = 0;
    while i < tokens.len() {
        let tok = &tokens[i];
        if is_bang(tok) {
            if negated {
                return Err("double negation".to_string());
            }
            negated = true;
            i += 1;
            continue;
        }
        if !is_option(tok) {
            return Err(format!("unexpected {:?}", tok.text));
        }
        let next_value = |i: usize| -> Result<String, String> {
            tokens
                .get(i + 1)
                .filter(|t| !is_bang(t))
                .map(|t| t.text.clone())
                .ok_or_else(|| format!("{} needs a value", tokens[i].text))
        };
        match tok.text.as_str() {
            "-m" | "--match" => {
                if negated {
                    return Err("! before -m".to_string());
                }
                matches.push(Match {
                    module: next_value(i)?,
                    options: Vec::new(),
                });
                i += 2;
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                if negated || target.is_some() {
                    return Err("misplaced target".to_string());
                }
                target = Some(Target {
                    name: next_value(i)?,
                    goto: matches!(tok.text.as_str(), "-g" | "--goto"),
                    options: Vec::new(),
                });
                i += 2;
            }
            base @ ("-s" | "--source" | "--src" | "-d" | "--destination" | "--dst" | "-p"
            | "--protocol" | "-i" | "--in-interface" | "-o" | "--out-interface") => {
                let name = match base {
                    "--source" | "--src" => "-s",
                    "--destination" | "--dst" => "-d",
                    "--protocol" => "-p",
                    "--in-interface" => "-i",
                    "--out-interface" => "-o",
                    short => short,
                };
                matches[0].options.push(Opt {
                    name: name.to_string(),
                    negated,
                    values: vec![next_value(i)?],
                });
                negated = false;
                i += 2;
            }
            name => {
                let mut values = Vec::new();
                let mut j = i + 1;
                while let Some(t) = tokens.get(j) {
                    if is_option(t) || is_bang(t) {
                        break;
                    }
                    values.push(t.text.clone());
                    j += 1;
                }
                let opt = Opt {
                    name: name.to_string(),
                    negated,
                    values,
                };
                negated = false;
                match (&mut target, matches.len()) {
                    (Some(t), _) => t.options.push(opt),
                    (None, 1) => return Err(format!("option {name} outside any match module")),
                    (None, _) => matches.last_mut().expect("non-empty").options.push(opt),
                }
                i = j;
            }
        }
    }
    if negated {
        return Err("trailing !".to_string());
    }
    Ok(Rule {
        text: spec.to_string(),
        matches,
        target,
    })
}
