//! `harness list` prints every entry of every registry, from the registries themselves.

use crate::common::*;

fn listed(what: &str) -> String {
    let o = run(&["list", what]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    t
}

#[test]
fn list_prints_every_registry() {
    let first_words =
        |t: &str| t.lines().filter_map(|l| l.split_whitespace().next()).map(String::from).collect::<Vec<_>>();
    let techniques = listed("techniques");
    for name in harness::techniques::known_names() {
        assert!(techniques.lines().any(|l| l.starts_with(&format!("{name} "))), "technique {name} not listed");
    }
    let engines = first_words(&listed("engines"));
    assert_eq!(engines, harness::engines::names(), "engines");
    let selectors = first_words(&listed("selectors"));
    assert_eq!(selectors, harness::meta::selectors::names(), "selectors");
    let figures = first_words(&listed("figures"));
    let want: Vec<&str> = harness::report::figures().iter().map(|f| f.name()).collect();
    assert_eq!(figures, want, "figures");
    let formats = first_words(&listed("formats"));
    for f in ["f32", "f16", "native", "q8_0", "q4k", "q6k"] {
        assert!(formats.iter().any(|w| w == f), "format {f} not listed: {formats:?}");
    }
    // An unknown registry is bad input.
    assert_eq!(run(&["list", "nothing"]).status.code(), Some(2));
}
