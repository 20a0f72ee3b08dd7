//! The subset of label and field selector syntax kproxy and kube-runtime send:
//! `key`, `!key`, `key=value`, `key==value`, `key!=value`, joined by commas; field
//! selectors on `metadata.name` and `metadata.namespace`. Set-based terms (`in`, `notin`)
//! are refused rather than silently matching everything.

use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Exists,
    NotExists,
    Equals(String),
    NotEquals(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Term {
    key: String,
    op: Op,
}

/// A parsed `labelSelector` plus `fieldSelector` (and the namespace of a namespaced path).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    labels: Vec<Term>,
    fields: Vec<Term>,
}

impl Selector {
    pub fn parse(label_selector: &str, field_selector: &str) -> Result<Self, String> {
        let labels = parse_terms(label_selector)?;
        let fields = parse_terms(field_selector)?;
        for f in &fields {
            if !matches!(f.key.as_str(), "metadata.name" | "metadata.namespace") {
                return Err(format!("field label not supported: {}", f.key));
            }
            if matches!(f.op, Op::Exists | Op::NotExists) {
                return Err(format!("invalid field selector term: {}", f.key));
            }
        }
        Ok(Self { labels, fields })
    }

    /// Restricts to one namespace, as a namespaced URL path does.
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.fields.push(Term {
            key: "metadata.namespace".into(),
            op: Op::Equals(namespace.into()),
        });
        self
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let meta = &obj["metadata"];
        let label = |k: &str| meta["labels"][k].as_str();
        let field = |k: &str| match k {
            "metadata.name" => meta["name"].as_str(),
            _ => Some(meta["namespace"].as_str().unwrap_or("")),
        };
        self.labels.iter().all(|t| t.holds(label(&t.key)))
            && self.fields.iter().all(|t| t.holds(field(&t.key)))
    }
}

impl Term {
    fn holds(&self, value: Option<&str>) -> bool {
        match &self.op {
            Op::Exists => value.is_some(),
            Op::NotExists => value.is_none(),
            Op::Equals(v) => value == Some(v.as_str()),
            Op::NotEquals(v) => value != Some(v.as_str()),
        }
    }
}

fn parse_terms(selector: &str) -> Result<Vec<Term>, String> {
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(parse_term)
        .collect()
}

fn parse_term(term: &str) -> Result<Term, String> {
    if term.contains(" in ") || term.contains(" notin ") || term.contains('(') {
        return Err(format!("set-based selector not supported: {term}"));
    }
    let (key, op) = if let Some(key) = term.strip_prefix('!') {
        (key, Op::NotExists)
    } else if let Some((k, v)) = term.split_once("!=") {
        (k, Op::NotEquals(v.trim().into()))
    } else if let Some((k, v)) = term.split_once("==") {
        (k, Op::Equals(v.trim().into()))
    } else if let Some((k, v)) = term.split_once('=') {
        (k, Op::Equals(v.trim().into()))
    } else {
        (term, Op::Exists)
    };
    let key = key.trim();
    if key.is_empty() || key.contains(['=', '!', ' ']) {
        return Err(format!("invalid selector term: {term}"));
    }
    Ok(Term {
        key: key.to_string(),
        op,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn kube_proxy_selector_filters_proxy_name_and_headless() {
        let s = Selector::parse(
            "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name",
            "",
        )
        .unwrap();
        assert!(s.matches(&svc(json!({"app": "x"}))));
        assert!(s.matches(&json!({"metadata": {"name": "a"}})));
        assert!(!s.matches(&svc(
            json!({"service.kubernetes.io/service-proxy-name": "other"})
        )));
        assert!(!s.matches(&svc(json!({"service.kubernetes.io/headless": ""}))));
    }

    #[test]
    fn equality_terms_and_fields() {
        let s = Selector::parse("app=web,tier!=db", "metadata.name=a").unwrap();
        assert!(s.matches(&svc(json!({"app": "web"}))));
        assert!(!s.matches(&svc(json!({"app": "web", "tier": "db"}))));
        assert!(!s.matches(&svc(json!({"app": "api"}))));
        let other = Selector::parse("", "metadata.name==b").unwrap();
        assert!(!other.matches(&svc(json!({}))));
        let ns = Selector::default().in_namespace("ns");
        assert!(ns.matches(&svc(json!({}))));
        assert!(
            !Selector::default()
                .in_namespace("x")
                .matches(&svc(json!({})))
        );
    }

    #[test]
    fn unsupported_syntax_is_refused() {
        assert!(Selector::parse("app in (a,b)", "").is_err());
        assert!(Selector::parse("", "spec.nodeName=x").is_err());
        assert!(Selector::parse("=x", "").is_err());
    }
}
