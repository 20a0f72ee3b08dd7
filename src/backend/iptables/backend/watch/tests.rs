use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::testing::iptables::fake::FakeRunner;

/// A generation the test moves by hand; `None` reads fail.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicU32>);

impl Counter {
    fn bump(&self, by: u32) {
        self.0.fetch_add(by, Ordering::SeqCst);
    }
}

impl GenerationSource for Counter {
    fn generation(&mut self) -> Result<u32, String> {
        match self.0.load(Ordering::SeqCst) {
            u32::MAX => Err("unreadable".into()),
            g => Ok(g),
        }
    }
}

fn watch(gen_: &Counter) -> GenerationWatch {
    let mut w = GenerationWatch::new(Box::new(gen_.clone()));
    w.reading();
    w
}

/// kproxy's write of `sections` sections, with the kernel bumping the generation `bumps` times.
fn own_write(w: &mut GenerationWatch, gen_: &Counter, sections: usize, bumps: u32) {
    w.before_write();
    gen_.bump(bumps);
    w.after_write(sections);
}

#[test]
fn own_writes_leave_the_kernel_known() {
    let g = Counter::default();
    let mut w = watch(&g);
    assert!(!w.may_have_changed());
    own_write(&mut w, &g, 2, 2);
    own_write(&mut w, &g, 3, 1);
    // A section that changed nothing does not bump the generation.
    own_write(&mut w, &g, 1, 0);
    assert!(!w.may_have_changed());
}

#[test]
fn a_write_between_kproxys_writes_is_noticed_until_the_next_read_back() {
    let g = Counter::default();
    let mut w = watch(&g);
    g.bump(1);
    assert!(w.may_have_changed());
    own_write(&mut w, &g, 1, 1);
    assert!(w.may_have_changed(), "kproxy's own write hid the other one");
    w.reading();
    assert!(!w.may_have_changed());
}

#[test]
fn a_write_during_kproxys_write_is_noticed() {
    let g = Counter::default();
    let mut w = watch(&g);
    own_write(&mut w, &g, 2, 3);
    assert!(w.may_have_changed());
}

#[test]
fn an_unreadable_generation_counts_as_changed() {
    let g = Counter::default();
    let mut w = watch(&g);
    g.0.store(u32::MAX, Ordering::SeqCst);
    assert!(w.may_have_changed());
    g.0.store(7, Ordering::SeqCst);
    own_write(&mut w, &g, 1, 1);
    assert!(w.may_have_changed(), "known from before the failed read");
    // A read-back that starts while the generation is unreadable leaves it unknown.
    g.0.store(u32::MAX, Ordering::SeqCst);
    w.reading();
    g.0.store(9, Ordering::SeqCst);
    assert!(w.may_have_changed());
}

#[test]
fn the_canary_in_mangle_says_whether_the_tables_were_flushed() {
    let mut runner = FakeRunner::default();
    let mut w = Watch::Canary;
    assert!(w.may_have_changed(&mut runner), "no canary yet");
    runner
        .restore(&format!("*mangle\n:{CANARY} - [0:0]\nCOMMIT\n"))
        .unwrap();
    assert!(!w.may_have_changed(&mut runner));
    runner
        .restore(&format!(
            "*mangle\n:{CANARY} - [0:0]\n-X {CANARY}\nCOMMIT\n"
        ))
        .unwrap();
    assert!(w.may_have_changed(&mut runner));
}

#[test]
fn counts_the_sections_of_each_restore() {
    let mut inner = FakeRunner::default();
    let mut counting = Counting {
        inner: &mut inner,
        sections: 0,
    };
    counting
        .restore("*filter\n:A - [0:0]\nCOMMIT\n*nat\n:B - [0:0]\nCOMMIT\n")
        .unwrap();
    counting.restore("*nat\n:C - [0:0]\nCOMMIT\n").unwrap();
    assert_eq!(counting.sections, 3);
    assert_eq!(inner.restores.len(), 2);
}
