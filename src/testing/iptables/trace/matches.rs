//! The match modules the tracer understands, and nothing else: an unknown module or
//! option is an error, so the compiler cannot grow rules the tests silently misread.

use super::values::{parse_mark, parse_net, parse_port_range};
use super::{Match, Opt, Place, State, TraceError, Tracer, Verdict};
use crate::model::Protocol;

impl Tracer<'_> {
    /// Evaluates one option, ignoring its negation (the caller applies it).
    pub(super) fn eval_option(
        &self,
        place: &Place,
        m: &Match,
        opt: &Opt,
        st: &State,
    ) -> Result<Verdict, TraceError> {
        let bad = |why: &str| {
            place.unsupported(format!(
                "-m {} {} {:?}: {why}",
                m.module, opt.name, opt.values
            ))
        };
        let value = || opt.value().ok_or_else(|| bad("needs one value"));
        let yes = |b: bool| if b { Verdict::Yes } else { Verdict::No };
        let v = match (m.module.as_str(), opt.name.as_str()) {
            ("", "-s") => yes(parse_net(value()?)
                .ok_or_else(|| bad("address"))?
                .contains(&st.src)),
            ("", "-d") => yes(parse_net(value()?)
                .ok_or_else(|| bad("address"))?
                .contains(&st.dst)),
            ("", "-i") => {
                let want = value()?;
                let on = st.in_interface.as_deref();
                yes(match want.strip_suffix('+') {
                    Some(prefix) => on.is_some_and(|i| i.starts_with(prefix)),
                    None => on == Some(want),
                })
            }
            ("", "-p") => match value()? {
                "all" => Verdict::Yes,
                p => yes(Protocol::from_kubernetes(&p.to_ascii_uppercase())
                    .ok_or_else(|| bad("protocol"))?
                    == st.proto),
            },
            ("comment", "--comment") => Verdict::Yes,
            ("tcp" | "udp" | "sctp", "--dport" | "--destination-port") => {
                if m.module != st.proto.as_str() {
                    return Ok(Verdict::No);
                }
                let (lo, hi) = parse_port_range(value()?).ok_or_else(|| bad("port"))?;
                yes((lo..=hi).contains(&st.dport))
            }
            ("addrtype", "--src-type" | "--dst-type") => {
                if value()? != "LOCAL" {
                    return Err(bad("only LOCAL is understood"));
                }
                let ip = if opt.name == "--src-type" {
                    st.src
                } else {
                    st.dst
                };
                yes(self.is_local(ip))
            }
            ("statistic", "--mode") if value()? == "random" => Verdict::Yes,
            ("statistic", "--probability") => {
                let p: f64 = value()?.parse().map_err(|_| bad("probability"))?;
                match p {
                    p if p >= 1.0 => Verdict::Yes,
                    p if p <= 0.0 => Verdict::No,
                    _ => Verdict::Both,
                }
            }
            ("recent", "--rcheck" | "--update") => {
                let name = recent_option(m, "--name").unwrap_or("DEFAULT");
                let addr = if m.options.iter().any(|o| o.name == "--rdest") {
                    st.dst
                } else {
                    st.src
                };
                yes(self.recent.iter().any(|(n, a)| n == name && *a == addr))
            }
            ("recent", "--set" | "--name" | "--seconds" | "--reap" | "--rsource" | "--rdest") => {
                Verdict::Yes
            }
            ("recent", "--mask") if value()? == "255.255.255.255" => Verdict::Yes,
            ("mark", "--mark") => {
                let (v, mask) = parse_mark(value()?).ok_or_else(|| bad("mark"))?;
                yes(st.mark & mask == v)
            }
            ("conntrack", "--ctstate") => {
                let states = value()?;
                yes(states
                    .split(',')
                    .any(|s| s == "NEW" || (s == "DNAT" && st.dnat)))
            }
            _ => return Err(bad("not understood by the tracer")),
        };
        Ok(v)
    }
}

fn recent_option<'m>(m: &'m Match, name: &str) -> Option<&'m str> {
    m.options
        .iter()
        .find(|o| o.name == name)
        .and_then(Opt::value)
}
