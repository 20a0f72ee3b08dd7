//! The compiler's output: chains as iptables-restore lines, in the form `iptables-save`
//! prints them, so that what was written can be compared with what the kernel holds.

use std::fmt::Write as _;
use std::sync::Arc;

/// The tables kproxy programs. Its rules are in filter and nat; mangle holds only
/// kube-proxy's canary chain (see `backend/iptables/backend/watch.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Filter,
    Nat,
    Mangle,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Filter, Table::Nat, Table::Mangle];

    pub fn as_str(self) -> &'static str {
        match self {
            Table::Filter => "filter",
            Table::Nat => "nat",
            Table::Mangle => "mangle",
        }
    }
}

/// One user-defined chain kproxy owns, with its rules in order. Each rule is the text after
/// `-A <chain> ` in iptables-save output.
///
/// Compact because a large cluster has hundreds of thousands of them: the name and every
/// rule share one buffer, each rule ended by `'\n'` (one allocation per chain instead of
/// one per rule). A rule never holds a newline, since restore input is line-based; if one
/// did, [`Chain::rules`] would still yield exactly as many rules as were written, cut at
/// the newlines. Equality compares the buffers. 24 bytes plus the buffer.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Chain {
    table: Table,
    /// Rules written (the number of `'\n'` after the name, for newline-free rules).
    rules: u32,
    name_len: u16,
    /// The name, then each rule followed by `'\n'`.
    text: Box<str>,
}

impl Chain {
    pub fn new<S: Into<String>>(
        table: Table,
        name: impl Into<String>,
        rules: impl IntoIterator<Item = S>,
    ) -> Self {
        let mut chain = ChainBuilder::new(table, &name.into());
        for rule in rules {
            chain.push_rule(&rule.into());
        }
        chain.build()
    }

    pub fn table(&self) -> Table {
        self.table
    }

    pub fn name(&self) -> &str {
        &self.text[..usize::from(self.name_len)]
    }

    /// The rules in order, each the text after `-A <chain> `.
    pub fn rules(&self) -> RuleIter<'_> {
        RuleIter {
            text: &self.text[usize::from(self.name_len)..],
            left: self.rules as usize,
        }
    }

    /// Whether the two chains hold the same rules, whatever their names and tables.
    pub fn same_rules(&self, other: &Chain) -> bool {
        self.rules == other.rules
            && self.text[usize::from(self.name_len)..] == other.text[usize::from(other.name_len)..]
    }

    /// Appends `-A <name> <rule>` for each rule, as restore input.
    pub fn write_appends(&self, out: &mut String) {
        let name = self.name();
        for rule in self.rules() {
            out.reserve(name.len() + rule.len() + 5);
            out.push_str("-A ");
            out.push_str(name);
            out.push(' ');
            out.push_str(rule);
            out.push('\n');
        }
    }
}

/// iptables allows 28 bytes; names are kproxy's own or read from iptables-save.
fn name_len(name: &str) -> u16 {
    u16::try_from(name.len()).expect("chain names are at most 28 bytes")
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("table", &self.table)
            .field("name", &self.name())
            .field("rules", &self.rules().collect::<Vec<_>>())
            .finish()
    }
}

/// The rules of a [`Chain`] or a [`RuleList`], in order.
#[derive(Clone, Debug)]
pub struct RuleIter<'a> {
    /// Rules not yet yielded, each followed by `'\n'`.
    text: &'a str,
    left: usize,
}

impl<'a> Iterator for RuleIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let end = if self.left == 0 {
            // The last rule is all that is left: stays exact even if a rule held a newline.
            self.text.len().saturating_sub(1)
        } else {
            self.text.find('\n').unwrap_or(self.text.len())
        };
        let rule = &self.text[..end];
        self.text = self.text.get(end + 1..).unwrap_or_default();
        Some(rule)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for RuleIter<'_> {}

/// Writes a chain rule by rule into its one buffer, so the compiler makes no `String` per
/// rule: `let mut r = builder.rule(); r.push_str("-j "); …` (the rule ends when `r` drops).
pub struct ChainBuilder {
    table: Table,
    name_len: u16,
    rules: RuleList,
}

impl ChainBuilder {
    pub fn new(table: Table, name: &str) -> Self {
        Self::with_capacity(table, name, 0)
    }

    /// A builder with room for `bytes` of rule text (each rule counts its `'\n'`).
    pub fn with_capacity(table: Table, name: &str, bytes: usize) -> Self {
        let mut text = String::with_capacity(name.len() + bytes);
        text.push_str(name);
        Self {
            table,
            name_len: name_len(name),
            rules: RuleList { text, rules: 0 },
        }
    }

    pub fn name(&self) -> &str {
        &self.rules.text[..usize::from(self.name_len)]
    }

    /// Starts the next rule; it ends when the returned writer is dropped.
    pub fn rule(&mut self) -> RuleWriter<'_> {
        self.rules.rule()
    }

    pub fn push_rule(&mut self, rule: &str) {
        self.rules.push_rule(rule);
    }

    /// Appends every rule of `list`.
    pub fn push_rules(&mut self, list: &RuleList) {
        self.rules.append(list);
    }

    pub fn reserve(&mut self, bytes: usize) {
        self.rules.text.reserve(bytes);
    }

    /// Forgets what was written and starts the chain `name`, keeping the buffer: one builder
    /// can write many chains, each taken with [`ChainBuilder::to_chain`].
    pub fn start(&mut self, table: Table, name: &str) {
        self.table = table;
        self.rules.clear();
        self.rules.text.push_str(name);
        self.name_len = name_len(name);
    }

    /// Bytes the buffer holds without growing.
    pub fn capacity(&self) -> usize {
        self.rules.text.capacity()
    }

    /// A copy of the chain written so far, allocated at its exact size.
    pub fn to_chain(&self) -> Chain {
        Chain {
            table: self.table,
            rules: self.rules.rules,
            name_len: self.name_len,
            text: Box::from(self.rules.text.as_str()),
        }
    }

    pub fn build(self) -> Chain {
        Chain {
            table: self.table,
            rules: self.rules.rules,
            name_len: self.name_len,
            text: self.rules.text.into_boxed_str(),
        }
    }
}

/// Rules without a chain yet (a service's lines in a shared chain), in one buffer as in
/// [`Chain`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RuleList {
    /// Each rule followed by `'\n'` (in a [`ChainBuilder`], after the chain's name).
    text: String,
    rules: u32,
}

impl RuleList {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the next rule; it ends when the returned writer is dropped.
    pub fn rule(&mut self) -> RuleWriter<'_> {
        RuleWriter {
            start: self.text.len(),
            text: &mut self.text,
            rules: &mut self.rules,
        }
    }

    pub fn push_rule(&mut self, rule: &str) {
        self.rule().push_str(rule);
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.rules = 0;
    }

    /// Bytes the buffer holds without growing.
    pub fn capacity(&self) -> usize {
        self.text.capacity()
    }

    /// Appends every rule of `other`.
    pub fn append(&mut self, other: &RuleList) {
        self.text.push_str(&other.text);
        self.rules += other.rules;
    }

    pub fn len(&self) -> usize {
        self.rules as usize
    }

    pub fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// Bytes of text, newlines included: what [`ChainBuilder::push_rules`] copies.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    pub fn iter(&self) -> RuleIter<'_> {
        RuleIter {
            text: &self.text,
            left: self.rules as usize,
        }
    }
}

/// One rule being written into a [`ChainBuilder`] or [`RuleList`]; dropping it ends the rule.
pub struct RuleWriter<'a> {
    text: &'a mut String,
    rules: &'a mut u32,
    /// Where this rule's text starts in `text`.
    start: usize,
}

impl RuleWriter<'_> {
    pub fn push_str(&mut self, s: &str) {
        self.text.push_str(s);
    }

    pub fn push(&mut self, c: char) {
        self.text.push(c);
    }

    /// Whether nothing has been written to this rule yet.
    pub fn is_empty(&self) -> bool {
        self.text.len() == self.start
    }

    /// This rule's text so far.
    pub fn as_str(&self) -> &str {
        &self.text[self.start..]
    }
}

impl std::fmt::Write for RuleWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.text.push_str(s);
        Ok(())
    }
}

impl Drop for RuleWriter<'_> {
    fn drop(&mut self) {
        self.text.push('\n');
        *self.rules += 1;
    }
}

/// A rule kproxy needs in a built-in chain (`PREROUTING`, `INPUT`, …) to enter its own chains.
/// Built-in chains are shared with others, so these rules are checked and inserted one by
/// one instead of the chain being rewritten.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Jump {
    pub table: Table,
    pub chain: &'static str,
    /// Rule text after `-A <chain> `, in iptables-save form.
    pub rule: String,
}

/// The whole desired state of kproxy's iptables rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Every chain kproxy owns, each once. `Arc` lets an incremental compile share the chains
    /// of unchanged services with the previous ruleset, so comparing them is cheap.
    pub chains: Vec<Arc<Chain>>,
    pub jumps: Vec<Jump>,
}

impl Ruleset {
    pub fn chain(&self, table: Table, name: &str) -> Option<&Chain> {
        self.chains
            .iter()
            .map(Arc::as_ref)
            .find(|c| c.table == table && c.name() == name)
    }

    /// The iptables-restore input that writes every chain (and inserts the jumps, for a
    /// kernel that has none): what `--dry-run` prints and what the bare-restore benchmark applies.
    pub fn to_restore_input(&self) -> String {
        let mut out = String::new();
        for table in Table::ALL {
            let chains: Vec<&Chain> = self
                .chains
                .iter()
                .map(Arc::as_ref)
                .filter(|c| c.table() == table)
                .collect();
            let jumps: Vec<&Jump> = self.jumps.iter().filter(|j| j.table == table).collect();
            if chains.is_empty() && jumps.is_empty() {
                continue;
            }
            let _ = writeln!(out, "*{}", table.as_str());
            write_chains(&mut out, &chains);
            for jump in jumps {
                let _ = writeln!(out, "-A {} {}", jump.chain, jump.rule);
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

/// Writes chain declarations (which flush the chains in `--noflush` mode), then their rules.
pub fn write_chains(out: &mut String, chains: &[&Chain]) {
    for chain in chains {
        let _ = writeln!(out, ":{} - [0:0]", chain.name());
    }
    for chain in chains {
        chain.write_appends(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_is_small() {
        assert_eq!(std::mem::size_of::<Chain>(), 24);
    }

    #[test]
    fn chain_keeps_name_and_rules_apart() {
        let chain = Chain::new(Table::Nat, "KUBE-SVC-X", ["-j A", "", "-p tcp -j B"]);
        assert_eq!(chain.table(), Table::Nat);
        assert_eq!(chain.name(), "KUBE-SVC-X");
        let rules = chain.rules();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules.collect::<Vec<_>>(), ["-j A", "", "-p tcp -j B"]);
        let empty = Chain::new(Table::Nat, "KUBE-SVC-X", Vec::<String>::new());
        assert_eq!(empty.rules().len(), 0);
        assert_eq!(empty.rules().next(), None);
        assert_ne!(empty, Chain::new(Table::Nat, "KUBE-SVC-X", [""]));
        assert_eq!(
            Chain::new(Table::Nat, "C", [""])
                .rules()
                .collect::<Vec<_>>(),
            [""]
        );
    }

    #[test]
    fn equality_compares_table_name_and_rules() {
        let a = Chain::new(Table::Nat, "A", ["-j X", "-j Y"]);
        assert_eq!(a, Chain::new(Table::Nat, "A", ["-j X", "-j Y"]));
        assert_ne!(a, Chain::new(Table::Filter, "A", ["-j X", "-j Y"]));
        assert_ne!(a, Chain::new(Table::Nat, "A", ["-j X"]));
        assert_ne!(a, Chain::new(Table::Nat, "A", ["-j X -j Y"]));
        // The name and the first rule share a buffer: the boundary matters.
        assert_ne!(a, Chain::new(Table::Nat, "A-", ["j X", "-j Y"]));
        let b = Chain::new(Table::Filter, "B", ["-j X", "-j Y"]);
        assert!(a.same_rules(&b));
        assert!(!a.same_rules(&Chain::new(Table::Nat, "A", ["-j X"])));
    }

    #[test]
    fn builder_writes_rules_in_place() {
        use std::fmt::Write as _;
        let mut list = RuleList::new();
        list.push_rule("-j L1");
        {
            let mut r = list.rule();
            assert!(r.is_empty());
            let proto = "tcp";
            let _ = write!(r, "-p {proto} --dport {}", 80);
            assert_eq!(r.as_str(), "-p tcp --dport 80");
        }
        assert_eq!(list.len(), 2);
        let mut b = ChainBuilder::with_capacity(Table::Nat, "KUBE-SEP-X", 64);
        assert_eq!(b.name(), "KUBE-SEP-X");
        b.rule().push_str("-j FIRST");
        b.push_rules(&list);
        b.push_rule("-j LAST");
        let chain = b.build();
        assert_eq!(
            chain,
            Chain::new(
                Table::Nat,
                "KUBE-SEP-X",
                ["-j FIRST", "-j L1", "-p tcp --dport 80", "-j LAST"]
            )
        );
        let mut out = String::new();
        chain.write_appends(&mut out);
        assert!(out.starts_with("-A KUBE-SEP-X -j FIRST\n-A KUBE-SEP-X -j L1\n"));
        assert_eq!(out.lines().count(), 4);
    }

    #[test]
    fn a_rule_holding_a_newline_still_counts_once() {
        let chain = Chain::new(Table::Nat, "C", ["a\nb", "c"]);
        let rules: Vec<&str> = chain.rules().collect();
        assert_eq!(rules.len(), chain.rules().len());
        assert_eq!(rules.len(), 2);
    }
}
