//! What `policy check` prints: one text line per image, or one JSON document
//! (`--output json`), and the exit status (0 only when every image would be admitted).

use serde::Serialize;

use super::decide::{Decision, Verdict};

/// The `--output json` document.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when every image would be admitted (exit 0).
    pub ok: bool,
    pub admitted: usize,
    pub denied: usize,
    pub not_covered: usize,
    pub undetermined: usize,
    pub images: Vec<Verdict>,
    /// Documents of the policy files that are not policies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_documents: Vec<String>,
    /// What pinsign noticed in the policies (deprecated fields, settings Kyverno refuses).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_notes: Vec<String>,
}

impl Report {
    pub fn new(
        images: Vec<Verdict>,
        skipped_documents: Vec<String>,
        policy_notes: Vec<String>,
    ) -> Report {
        let count = |d: Decision| images.iter().filter(|v| v.decision == d).count();
        Report {
            ok: images.iter().all(|v| v.decision == Decision::Admitted),
            admitted: count(Decision::Admitted),
            denied: count(Decision::Denied),
            not_covered: count(Decision::NotCovered),
            undetermined: count(Decision::Undetermined),
            images,
            skipped_documents,
            policy_notes,
        }
    }

    /// 0 when every image would be admitted, else 1.
    pub fn exit_code(&self) -> u8 {
        if self.ok {
            0
        } else {
            1
        }
    }

    /// One verdict line per image.
    pub fn text_lines(&self) -> Vec<String> {
        self.images.iter().map(text_line).collect()
    }

    /// The text output: per image its verdict line, then indented details (the digest that
    /// was checked, notes, rules that let it through unchecked).
    pub fn text_output(&self) -> Vec<String> {
        self.images
            .iter()
            .flat_map(|v| std::iter::once(text_line(v)).chain(text_details(v)))
            .collect()
    }
}

/// The indented lines under a verdict: `  matched as ...` (Kyverno's spelling, when it differs),
/// `  pinned REG/REPO@sha256:...`, `  note: ...`, `  skipped: ...`.
pub fn text_details(v: &Verdict) -> Vec<String> {
    let mut out = Vec::new();
    if v.kyverno_image != v.image {
        out.push(format!(
            "  matched as {} (how Kyverno spells it for imageReferences)",
            v.kyverno_image
        ));
    }
    if let Some(p) = v.pinned.as_deref().filter(|p| *p != v.image) {
        out.push(format!("  pinned {p}"));
    }
    let mut notes: Vec<&String> = v.notes.iter().collect();
    for rule in &v.rules {
        notes.extend(rule.notes.iter());
    }
    let mut seen = std::collections::BTreeSet::new();
    for n in notes {
        if seen.insert(n) {
            out.push(format!("  note: {}", n.replace('\n', " ")));
        }
    }
    for s in &v.skipped {
        out.push(format!("  skipped: {}", s.replace('\n', " ")));
    }
    out
}

/// `admitted IMAGE: ClusterPolicy P rule R: reason`, and so on.
pub fn text_line(v: &Verdict) -> String {
    let by = match (&v.kind, &v.policy, &v.rule) {
        (Some(kind), Some(policy), Some(rule))
            if *kind == super::spec::PolicyKind::ClusterPolicy =>
        {
            format!("{} {policy} rule {rule}: ", kind.kubernetes_kind())
        }
        (Some(kind), Some(policy), _) => format!("{} {policy}: ", kind.kubernetes_kind()),
        _ => String::new(),
    };
    let line = format!("{} {}: {by}{}", v.decision.as_str(), v.image, v.reason);
    line.replace('\n', " ")
}
