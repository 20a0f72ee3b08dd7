//! The scripted edits between steps.

use crate::corpus::{AFFINITIES, Cond, KINDS, Kind, PATTERNS, Pod, ServiceSpec, SliceSpec};

/// One scripted edit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    /// The endpoints replaced by another pattern's (endpoints added and removed).
    Endpoints,
    /// Every ready endpoint terminating (its pod deleted); with none ready, a remote
    /// endpoint added.
    Terminate,
    /// externalTrafficPolicy, internalTrafficPolicy and session affinity switched.
    Policies,
    /// Another kind (node ports, external and load-balancer IPs come and go).
    Kind,
    /// The service and its slices deleted; recreated by the next step that picks it.
    Delete,
}

/// Applies step `step`'s edits (step 1, 2, …) to the base services of `corpus`; returns
/// what was edited.
pub fn edit(corpus: &mut [ServiceSpec], step: usize) -> Vec<(usize, Edit)> {
    let mut edits = Vec::new();
    for (i, svc) in corpus.iter_mut().enumerate() {
        if matches!(svc.kind, Kind::Headless | Kind::ExternalName) || svc.other_proxy {
            continue;
        }
        let edit = if !svc.present || (i * 7 + step * 3).is_multiple_of(10) {
            Edit::Delete
        } else {
            match (i + step) % 5 {
                0 => Edit::Endpoints,
                1 => Edit::Policies,
                2 => Edit::Terminate,
                3 => Edit::Kind,
                _ => continue,
            }
        };
        match edit {
            Edit::Delete => svc.present = !svc.present,
            Edit::Endpoints => {
                let pattern = PATTERNS[(i + step * 4) % PATTERNS.len()];
                let slices = pattern.slices((i + step) % 3);
                svc.slices = if slices == svc.slices {
                    PATTERNS[(i + step * 4 + 1) % PATTERNS.len()].slices(step % 3)
                } else {
                    slices
                };
            }
            Edit::Terminate => terminate(svc),
            Edit::Policies => {
                svc.etp_local = !svc.etp_local;
                svc.itp_local = !svc.itp_local;
                let k = AFFINITIES
                    .iter()
                    .position(|a| *a == svc.affinity)
                    .unwrap_or(0);
                svc.affinity = AFFINITIES[(k + 1) % AFFINITIES.len()];
            }
            Edit::Kind => {
                let k = KINDS.iter().position(|k| *k == svc.kind).unwrap_or(0);
                svc.kind = KINDS[(k + 1 + step) % KINDS.len()];
            }
        }
        edits.push((i, edit));
    }
    edits
}

fn terminate(svc: &mut ServiceSpec) {
    let mut any = false;
    for slice in &mut svc.slices {
        for (_, cond) in &mut slice.endpoints {
            if *cond == Cond::Ready {
                *cond = Cond::TerminatingServing;
                any = true;
            }
        }
    }
    if !any {
        let pod = Pod::Remote(svc.index % 3);
        match svc.slices.first_mut() {
            Some(slice) => {
                slice.endpoints.retain(|(p, _)| *p != pod);
                slice.endpoints.push((pod, Cond::Ready));
            }
            None => svc.slices.push(SliceSpec {
                suffix: "a",
                endpoints: vec![(pod, Cond::Ready)],
            }),
        }
    }
}
