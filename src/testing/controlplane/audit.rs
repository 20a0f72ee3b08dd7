//! The API server's audit log, as the record of what the proxies asked for: every request
//! of a service-account identity (kproxy's, and kube-proxy's beside it), with its answer.
//! The real server's counterpart of the test server's request log.

use std::path::Path;

use serde_json::Value;

/// The audit policy: service accounts' requests at `Metadata` level (who, what, answer),
/// nothing else (the controller manager and the test driver are not under test).
pub const POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  userGroups: [\"system:serviceaccounts\"]
- level: None
";

/// One audit event: a request, at the stage it was logged (`ResponseStarted` when a watch
/// opened, `ResponseComplete` when a request ended).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub user: String,
    pub verb: String,
    pub uri: String,
    /// `services`, `endpointslices`, `nodes`, `events`, … (empty for non-resource URLs).
    pub resource: String,
    pub stage: String,
    pub code: Option<u16>,
}

impl AuditEvent {
    fn parse(line: &str) -> Option<Self> {
        let v: Value = serde_json::from_str(line).ok()?;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        Some(Self {
            user: text(&v["user"]["username"]),
            verb: text(&v["verb"]),
            uri: text(&v["requestURI"]),
            resource: text(&v["objectRef"]["resource"]),
            stage: text(&v["stage"]),
            code: v["responseStatus"]["code"]
                .as_u64()
                .and_then(|c| u16::try_from(c).ok()),
        })
    }

    /// A request that ended (not the start of a watch).
    pub fn is_complete(&self) -> bool {
        self.stage == "ResponseComplete"
    }
}

/// Every event in the audit log at `path` (none while it does not exist yet).
pub fn read(path: &Path) -> Vec<AuditEvent> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(AuditEvent::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_audit_line() {
        // The shape kube-apiserver writes (trimmed).
        let line = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","requestURI":"/api/v1/services?limit=500","verb":"list","user":{"username":"system:serviceaccount:kube-system:kproxy","groups":["system:serviceaccounts"]},"objectRef":{"resource":"services","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200}}"#;
        let e = AuditEvent::parse(line).unwrap();
        assert_eq!(e.user, "system:serviceaccount:kube-system:kproxy");
        assert_eq!((e.verb.as_str(), e.resource.as_str()), ("list", "services"));
        assert_eq!(e.code, Some(200));
        assert!(e.is_complete());
        assert_eq!(AuditEvent::parse("not json"), None);
    }
}
