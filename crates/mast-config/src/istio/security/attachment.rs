//! The checks every policy kind with `selector`/`targetRef`/`targetRefs` shares (security,
//! telemetry and extensions).

use crate::istio::common::{
    PolicyTargetReference, WorkloadSelector, validate_policy_target_ref, validate_workload_selector,
};
use crate::validate::Findings;

/// The checks every policy kind with `selector`/`targetRef`/`targetRefs` gets: at most one of
/// them, a well-formed selector, and supported target references.
pub(crate) fn check_attachment(
    selector: Option<&WorkloadSelector>,
    target_ref: Option<&PolicyTargetReference>,
    target_refs: &[PolicyTargetReference],
    out: &mut Findings,
) {
    let set = usize::from(selector.is_some())
        + usize::from(target_ref.is_some())
        + usize::from(!target_refs.is_empty());
    if set > 1 {
        out.error(
            "spec",
            "only one of targetRefs or workloadSelector can be set",
        );
    }
    check_selector(selector, out);
    if let Some(t) = target_ref {
        check_target_ref(t, "spec.targetRef", out);
    }
    if target_refs.len() > 16 {
        out.error("spec.targetRefs", "Too many: must have at most 16 items");
    }
    for (i, t) in target_refs.iter().enumerate() {
        check_target_ref(t, &format!("spec.targetRefs[{i}]"), out);
    }
}

/// Istio's `validateWorkloadSelector` plus the CRD limits on label values.
pub(crate) fn check_selector(selector: Option<&WorkloadSelector>, out: &mut Findings) {
    validate_workload_selector(selector, out, "spec.selector");
    let Some(sel) = selector else { return };
    for (k, v) in &sel.match_labels {
        if v.len() > 63 {
            out.error(
                format!("spec.selector.matchLabels[{k:?}]"),
                "Too long: may not be more than 63 bytes",
            );
        }
    }
    if sel.match_labels.len() > 4096 {
        out.error(
            "spec.selector.matchLabels",
            "Too many: must have at most 4096 items",
        );
    }
}

/// Istio's `validatePolicyTargetReference` plus the CRD's syntax rules for group and kind.
pub(crate) fn check_target_ref(t: &PolicyTargetReference, at: &str, out: &mut Findings) {
    validate_policy_target_ref(t, out, at);
    let group_ok = t.group.is_empty()
        || t.group.len() <= 253 && t.group.split('.').all(crate::meta::is_dns1123_label);
    if !group_ok {
        out.error(
            format!("{at}.group"),
            format!("group {:?} is not a valid DNS subdomain", t.group),
        );
    }
    let kind_ok = t.kind.len() <= 63
        && t.kind
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && t.kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !t.kind.ends_with('-');
    if !kind_ok {
        out.error(
            format!("{at}.kind"),
            format!("kind {:?} is not a valid kind name", t.kind),
        );
    }
}
