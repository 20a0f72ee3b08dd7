//! A model of iptables tables parsed from `iptables-save` / `iptables-restore` text: tables →
//! chains → rules (matches + target). It applies restore input with iptables-restore's
//! semantics (`--noflush` or not) and prints itself back as iptables-save does, so tests can
//! use it as a stateful fake of the kernel, and the packet tracer runs over it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use thiserror::Error;

/// Restore input iptables-restore would refuse, with the 1-based line it is on.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Every table, by name (`filter`, `nat`, …).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tables {
    pub tables: BTreeMap<String, ParsedTable>,
}

/// One table's chains, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedTable {
    pub chains: BTreeMap<String, ParsedChain>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedChain {
    pub name: String,
    /// The policy of a built-in chain (`ACCEPT`, `DROP`); `None` for a user chain.
    pub policy: Option<String>,
    pub rules: Vec<Rule>,
}

/// One rule, as `-A <chain> <text>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The rule text after `-A <chain> `, as given.
    pub text: String,
    /// Match modules in order; the first has `module == ""` and holds `-s`, `-d`, `-p`, …
    pub matches: Vec<Match>,
    /// `-j`/`-g` target; `None` for a rule that only counts.
    pub target: Option<Target>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    /// `-m <module>`; empty for the built-in options.
    pub module: String,
    pub options: Vec<Opt>,
}

/// One option: `[!] --name [values…]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opt {
    /// As written, with long built-in names shortened (`--source` → `-s`).
    pub name: String,
    pub negated: bool,
    pub values: Vec<String>,
}

impl Opt {
    /// The single value of the option, if it has exactly one.
    pub fn value(&self) -> Option<&str> {
        match self.values.as_slice() {
            [v] => Some(v),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    /// `-g` (goto) instead of `-j`.
    pub goto: bool,
    pub options: Vec<Opt>,
}

/// The built-in chains of each table, in the order iptables-save prints them.
pub fn builtin_chains(table: &str) -> Option<&'static [&'static str]> {
    Some(match table {
        "filter" => &["INPUT", "FORWARD", "OUTPUT"],
        "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        "mangle" => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
        "raw" => &["PREROUTING", "OUTPUT"],
        "security" => &["INPUT", "FORWARD", "OUTPUT"],
        _ => return None,
    })
}

impl ParsedTable {
    fn new(name: &str) -> Option<Self> {
        let chains = builtin_chains(name)?
            .iter()
            .map(|b| {
                let chain = ParsedChain {
                    name: b.to_string(),
                    policy: Some("ACCEPT".to_string()),
                    rules: Vec::new(),
                };
                (b.to_string(), chain)
            })
            .collect();
        Some(Self { chains })
    }
}

impl Tables {
    /// Parses iptables-save output or a full iptables-restore input.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut tables = Self::default();
        tables.restore(text, false)?;
        Ok(tables)
    }

    pub fn table(&self, name: &str) -> Option<&ParsedTable> {
        self.tables.get(name)
    }

    pub fn chain(&self, table: &str, chain: &str) -> Option<&ParsedChain> {
        self.tables.get(table)?.chains.get(chain)
    }

    /// Applies iptables-restore input as `iptables-restore [--noflush]` would. On error,
    /// `self` is left unchanged, as iptables-restore's atomic commit leaves the kernel.
    pub fn restore(&mut self, text: &str, noflush: bool) -> Result<(), ParseError> {
        let mut next = self.clone();
        let mut current: Option<(String, ParsedTable)> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |message: String| ParseError { line, message };
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if let Some(name) = trimmed.strip_prefix('*') {
                if current.is_some() {
                    return Err(err(format!("table {name} started before COMMIT")));
                }
                let fresh =
                    ParsedTable::new(name).ok_or_else(|| err(format!("unknown table {name}")))?;
                let table = match next.tables.get(name) {
                    Some(existing) if noflush => existing.clone(),
                    _ => fresh,
                };
                current = Some((name.to_string(), table));
                continue;
            }
            let Some((table_name, table)) = current.as_mut() else {
                return Err(err(format!("{trimmed:?} outside a table")));
            };
            if trimmed == "COMMIT" {
                let (name, table) = current.take().expect("checked above");
                next.tables.insert(name, table);
                continue;
            }
            if let Some(decl) = trimmed.strip_prefix(':') {
                let mut parts = decl.split_whitespace();
                let (Some(name), Some(policy)) = (parts.next(), parts.next()) else {
                    return Err(err(format!("bad chain line {trimmed:?}")));
                };
                declare_chain(table, table_name, name, policy).map_err(err)?;
                continue;
            }
            apply_command(table, trimmed).map_err(err)?;
        }
        if let Some((name, _)) = current {
            return Err(ParseError {
                line: text.lines().count(),
                message: format!("table {name} has no COMMIT"),
            });
        }
        *self = next;
        Ok(())
    }

    /// The tables as iptables-save prints them (without its `#` comment lines): built-in
    /// chains first, then user chains sorted by name, then each chain's rules.
    pub fn save(&self) -> String {
        let mut out = String::new();
        for (name, table) in &self.tables {
            let _ = writeln!(out, "*{name}");
            let builtins = builtin_chains(name).unwrap_or(&[]);
            let ordered: Vec<&ParsedChain> = builtins
                .iter()
                .filter_map(|b| table.chains.get(*b))
                .chain(table.chains.values().filter(|c| c.policy.is_none()))
                .collect();
            for chain in &ordered {
                let policy = chain.policy.as_deref().unwrap_or("-");
                let _ = writeln!(out, ":{} {policy} [0:0]", chain.name);
            }
            for chain in &ordered {
                for rule in &chain.rules {
                    let _ = writeln!(out, "-A {} {}", chain.name, rule.text);
                }
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

fn declare_chain(
    table: &mut ParsedTable,
    table_name: &str,
    name: &str,
    policy: &str,
) -> Result<(), String> {
    let builtin = builtin_chains(table_name).unwrap_or(&[]).contains(&name);
    match (builtin, policy) {
        (true, "-") => Err(format!("built-in chain {name} needs a policy")),
        (true, policy) => {
            let chain = table
                .chains
                .get_mut(name)
                .expect("built-in chains always exist");
            chain.policy = Some(policy.to_string());
            Ok(())
        }
        (false, "-") => {
            // Declaring a user chain creates it, or flushes it if it exists.
            table.chains.insert(
                name.to_string(),
                ParsedChain {
                    name: name.to_string(),
                    policy: None,
                    rules: Vec::new(),
                },
            );
            Ok(())
        }
        (false, policy) => Err(format!("user chain {name} cannot have policy {policy}")),
    }
}

/// Applies one `-A`/`-I`/`-D`/`-F`/`-N`/`-X` line.
fn apply_command(table: &mut ParsedTable, line: &str) -> Result<(), String> {
    let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim_start();
    let (chain_name, spec) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let spec = spec.trim();
    match cmd {
        "-A" | "--append" | "-I" | "--insert" | "-D" | "--delete" => {
            let (position, spec) = match cmd {
                "-I" | "--insert" => match spec.split_once(char::is_whitespace) {
                    Some((n, rest)) if n.parse::<usize>().is_ok() => {
                        (n.parse::<usize>().ok(), rest.trim())
                    }
                    _ => (Some(1), spec),
                },
                _ => (None, spec),
            };
            let rule = parse_rule(spec)?;
            if let Some(target) = &rule.target
                && !is_standard_target(&target.name)
                && !table.chains.contains_key(&target.name)
            {
                return Err(format!(
                    "jump to chain {:?}, which does not exist",
                    target.name
                ));
            }
            let chain = table
                .chains
                .get_mut(chain_name)
                .ok_or_else(|| format!("chain {chain_name:?} does not exist"))?;
            match cmd {
                "-A" | "--append" => chain.rules.push(rule),
                "-D" | "--delete" => {
                    let at = chain
                        .rules
                        .iter()
                        .position(|r| r.matches == rule.matches && r.target == rule.target)
                        .ok_or_else(|| format!("no such rule in {chain_name}: {spec}"))?;
                    chain.rules.remove(at);
                }
                _ => {
                    let at = position.unwrap_or(1);
                    if at == 0 || at > chain.rules.len() + 1 {
                        return Err(format!("index {at} out of range in {chain_name}"));
                    }
                    chain.rules.insert(at - 1, rule);
                }
            }
            Ok(())
        }
        "-F" | "--flush" => {
            if chain_name.is_empty() {
                table.chains.values_mut().for_each(|c| c.rules.clear());
            } else {
                table
                    .chains
                    .get_mut(chain_name)
                    .ok_or_else(|| format!("chain {chain_name:?} does not exist"))?
                    .rules
                    .clear();
            }
            Ok(())
        }
        "-N" | "--new-chain" => {
            if table.chains.contains_key(chain_name) {
                return Err(format!("chain {chain_name} already exists"));
            }
            declare_chain(table, "", chain_name, "-")
        }
        "-X" | "--delete-chain" => {
            let chain = table
                .chains
                .get(chain_name)
                .ok_or_else(|| format!("chain {chain_name:?} does not exist"))?;
            if chain.policy.is_some() {
                return Err(format!("cannot delete built-in chain {chain_name}"));
            }
            if !chain.rules.is_empty() {
                return Err(format!("chain {chain_name} is not empty"));
            }
            let referenced = table.chains.values().any(|c| {
                c.rules
                    .iter()
                    .any(|r| r.target.as_ref().is_some_and(|t| t.name == chain_name))
            });
            if referenced {
                return Err(format!("chain {chain_name} is still referenced"));
            }
            table.chains.remove(chain_name);
            Ok(())
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

/// Targets that are not chains (those kproxy and common setups use).
pub fn is_standard_target(name: &str) -> bool {
    matches!(
        name,
        "ACCEPT"
            | "DROP"
            | "RETURN"
            | "REJECT"
            | "DNAT"
            | "SNAT"
            | "MASQUERADE"
            | "MARK"
            | "LOG"
            | "CONNMARK"
            | "REDIRECT"
            | "NOTRACK"
            | "CT"
            | "QUEUE"
            | "NFQUEUE"
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    const SAVED: &str = r#"# Generated by iptables-save v1.8.9 (nf_tables)
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-ABC - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SVC-ABC
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-SVC-ABC ! -s 10.244.0.0/16 -d 10.96.0.1/32 -p tcp -m comment --comment "ns/svc:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-ABC -m comment --comment "a\"b \\ c\'d" -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-X --mask 255.255.255.255 --rsource -j RETURN
COMMIT
"#;

    #[test]
    fn parses_iptables_save_output() {
        let t = Tables::parse(SAVED).unwrap();
        let svc = t.chain("nat", "KUBE-SVC-ABC").unwrap();
        assert_eq!(svc.policy, None);
        let masq = &svc.rules[0];
        assert_eq!(masq.matches[0].module, "");
        let base: Vec<_> = masq.matches[0]
            .options
            .iter()
            .map(|o| (o.name.as_str(), o.negated, o.value().unwrap()))
            .collect();
        assert_eq!(
            base,
            [
                ("-s", true, "10.244.0.0/16"),
                ("-d", false, "10.96.0.1/32"),
                ("-p", false, "tcp")
            ]
        );
        assert_eq!(masq.matches[1].module, "comment");
        assert_eq!(
            masq.matches[1].options[0].value(),
            Some("ns/svc:http cluster IP")
        );
        assert_eq!(masq.matches[2].options[0].name, "--dport");
        assert_eq!(masq.target.as_ref().unwrap().name, "KUBE-MARK-MASQ");

        let recent = &svc.rules[1];
        assert_eq!(recent.matches[1].options[0].value(), Some("a\"b \\ c'd"));
        let names: Vec<_> = recent.matches[2]
            .options
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "--rcheck",
                "--seconds",
                "--reap",
                "--name",
                "--mask",
                "--rsource"
            ]
        );
        assert!(recent.matches[2].options[0].values.is_empty());
    }

    #[test]
    fn save_round_trips() {
        let t = Tables::parse(SAVED).unwrap();
        let again = Tables::parse(&t.save()).unwrap();
        assert_eq!(t, again);
        let lines: Vec<&str> = SAVED.lines().skip(1).collect();
        assert_eq!(t.save().lines().collect::<Vec<_>>(), lines);
    }

    #[test]
    fn noflush_restore_replaces_declared_chains_only() {
        let mut t = Tables::parse(SAVED).unwrap();
        t.restore(
            "*nat\n:KUBE-SVC-ABC - [0:0]\n-A KUBE-SVC-ABC -j RETURN\nCOMMIT\n",
            true,
        )
        .unwrap();
        assert_eq!(t.chain("nat", "KUBE-SVC-ABC").unwrap().rules.len(), 1);
        assert_eq!(t.chain("nat", "PREROUTING").unwrap().rules.len(), 1);
        t.restore("*nat\n:KUBE-SVC-ABC - [0:0]\n-D PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SVC-ABC\n-X KUBE-SVC-ABC\nCOMMIT\n", true)
            .unwrap();
        assert!(t.chain("nat", "KUBE-SVC-ABC").is_none());
        assert!(t.chain("nat", "PREROUTING").unwrap().rules.is_empty());
    }

    #[test]
    fn full_restore_replaces_the_table() {
        let mut t = Tables::parse(SAVED).unwrap();
        t.restore("*nat\nCOMMIT\n", false).unwrap();
        assert!(t.chain("nat", "KUBE-SVC-ABC").is_none());
        assert!(t.chain("nat", "PREROUTING").unwrap().rules.is_empty());
    }

    #[test]
    fn errors_leave_the_tables_unchanged() {
        let mut t = Tables::parse(SAVED).unwrap();
        let before = t.clone();
        for (bad, line) in [
            ("*nat\n-A KUBE-NOPE -j RETURN\nCOMMIT\n", 2),
            (
                "*nat\n:KUBE-A - [0:0]\n-A KUBE-A -j KUBE-UNDEFINED\nCOMMIT\n",
                3,
            ),
            ("*nat\n-X KUBE-MARK-MASQ\nCOMMIT\n", 2),
            (
                "*nat\n:KUBE-A - [0:0]\n-A KUBE-A -m comment --comment \"open\nCOMMIT\n",
                3,
            ),
            ("*nat\n:KUBE-A - [0:0]\n", 2),
            ("*bogus\nCOMMIT\n", 1),
            (
                "*nat\n:KUBE-A - [0:0]\n-A KUBE-A --dport 80 -j RETURN\nCOMMIT\n",
                3,
            ),
        ] {
            let e = t.restore(bad, true).unwrap_err();
            assert_eq!(e.line, line, "{bad:?}: {e}");
            assert_eq!(t, before);
        }
    }

    #[test]
    fn quoted_dash_is_a_value() {
        let r = parse_rule("-m comment --comment \"-x\" -j RETURN").unwrap();
        assert_eq!(r.matches[1].options[0].value(), Some("-x"));
    }
}
